/**
 * A real browser for the web tests and the browser bench: Debian's chromium-headless-shell
 * (installed by scripts/setup) driven by puppeteer-core, with WebGPU on (its adapter here is the
 * bundled SwiftShader). A missing browser is an error naming the fix, never a skip.
 */
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM = process.env.PEFTGRAPH_CHROMIUM ?? '/usr/bin/chromium-headless-shell';

/** `webgpu: false` leaves WebGPU off, as Chromium on Linux ships it: a page then gets no adapter. */
export async function launchBrowser(o: { webgpu?: boolean } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM}: no headless Chromium; run \`bash scripts/setup\` (it installs Debian's chromium-headless-shell) or set PEFTGRAPH_CHROMIUM`,
    );
  return puppeteer.launch({
    executablePath: CHROMIUM,
    // --no-sandbox: CI runs as root; WebGPU is behind a flag on Linux.
    args: ['--no-sandbox', '--disable-gpu-sandbox', ...(o.webgpu === false ? [] : ['--enable-unsafe-webgpu'])],
  });
}
