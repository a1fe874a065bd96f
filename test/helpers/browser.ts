/**
 * A real browser for the web tests and the browser bench: Debian's chromium-headless-shell
 * (installed by scripts/setup) driven by puppeteer-core, with WebGPU on (its adapter here is the
 * bundled SwiftShader). A missing browser is an error naming the fix, never a skip.
 */
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM = process.env.PEFTGRAPH_CHROMIUM ?? '/usr/bin/chromium-headless-shell';

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM}: no headless Chromium; run \`bash scripts/setup\` (it installs Debian's chromium-headless-shell) or set PEFTGRAPH_CHROMIUM`,
    );
  return puppeteer.launch({
    executablePath: CHROMIUM,
    // --no-sandbox: CI runs as root; WebGPU is behind a flag on Linux.
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-gpu-sandbox'],
  });
}
