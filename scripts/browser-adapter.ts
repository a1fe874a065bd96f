/**
 * Records the WebGPU adapter headless Chromium gives a page on this machine (its limits and
 * features) as test/fixtures/adapters/chromium-swiftshader.json: the profile test/web/plan-profile
 * plans against. Run: npx tsx scripts/browser-adapter.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, CHROMIUM } from '../test/helpers/browser.ts';
import { servePage } from '../src/web/serve.ts';

const out = join(import.meta.dirname, '..', 'test', 'fixtures', 'adapters', 'chromium-swiftshader.json');
// Any page from 127.0.0.1 will do (WebGPU needs a secure context); this one has nothing to load.
const served = await servePage(new Map([['index.html', '<!doctype html><title>adapter</title>']]));
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(served.url);
  const adapter = await page.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    if (!a) return null;
    const limits: Record<string, number> = {};
    for (const k in a.limits) limits[k] = (a.limits as unknown as Record<string, number>)[k];
    return {
      info: { vendor: a.info.vendor, architecture: a.info.architecture },
      limits,
      features: [...a.features].sort(),
    };
  });
  if (!adapter) throw new Error('the page found no WebGPU adapter');
  const version = await browser.version();
  writeFileSync(
    out,
    `${JSON.stringify({ browser: version, executable: CHROMIUM, recorded: new Date().toISOString().slice(0, 10), ...adapter }, null, 2)}\n`,
  );
  console.log(`${version}: ${adapter.info.vendor} ${adapter.info.architecture} -> ${out}`);
} finally {
  await browser.close();
  await served.close();
}
