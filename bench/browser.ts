/**
 * The example's trained model in a web page against node, side by side in one run on this
 * machine: headless Chromium's WebGPU (SwiftShader) and Dawn in node (lavapipe) load the same
 * merged artifact and answer the same test questions from the image files' bytes.
 * - load: navigation start (page) or the call (node) until loadModel resolved;
 * - first answer: navigation start until the first answer (the page's whole cold start);
 * - per question: the median over the next questions (decode, tokenize, run, rank).
 * Also writes docs/web-demo.png: the page after a question asked by hand (upload, type, Ask).
 *
 *   npm run example && npx tsx bench/browser.ts [--questions 20] [--out /tmp/artifact]
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gpuWait } from '../src/runtime/gpu-wait.ts';
import { acquireDevice, loadModel } from '../src/runtime/index.ts';
import { pageFiles } from '../src/web/page.ts';
import { servableMeta } from '../src/web/servable.ts';
import { servePage } from '../src/web/serve.ts';
import { launchBrowser } from '../test/helpers/browser.ts';
import { cli, ROOT } from '../test/helpers/cli.ts';
import { numberFlag } from './flags.ts';

const { values: o } = parseArgs({ options: { questions: { type: 'string', default: '20' }, out: { type: 'string' } } });
const N = numberFlag('browser', 'questions', o.questions!, { integer: true, min: 1 });

/**
 * The fixed cost of one GPU round trip: a 4-byte copy submitted and read back (mapAsync), the
 * median of 30. Every question pays at least one. The page runs this same function, sent as text.
 */
async function roundTrip(device: GPUDevice): Promise<number> {
  const src = device.createBuffer({ size: 4, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const dst = device.createBuffer({ size: 4, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  const ms: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    const e = device.createCommandEncoder();
    e.copyBufferToBuffer(src, 0, dst, 0, 4);
    device.queue.submit([e.finish()]);
    await dst.mapAsync(GPUMapMode.READ);
    dst.unmap();
    ms.push(performance.now() - t);
  }
  src.destroy();
  dst.destroy();
  return ms.sort((a, b) => a - b)[15];
}
const run = join(ROOT, 'runs', 'mnist-vqa');
const model = o.out ?? join(mkdtempSync(join(tmpdir(), 'pg-browser-')), 'model');
const c = cli('compile', '--adapter', run, '--merged', '--out', model);
if (c.status !== 0) throw new Error(`compile failed (run \`npm run example\` first):\n${c.stderr}${c.stdout}`);

const DATA = join(ROOT, 'examples', 'mnist-vqa');
const tests = readFileSync(join(DATA, 'test.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .slice(0, N + 1)
  .map((l) => JSON.parse(l) as { image: string; question: string })
  .map((t) => ({ ...t, bytes: readFileSync(join(DATA, t.image)) }));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Node first (the same artifact, the same bytes).
const t0 = performance.now();
const gpu = await acquireDevice();
const m = await loadModel(gpu, model);
const nodeLoad = performance.now() - t0;
const nodeTimes: number[] = [];
const nodeAnswers: string[] = [];
for (const t of tests) {
  const s = performance.now();
  nodeAnswers.push((await m.predict(t.bytes, t.question, { top: 1 }))[0].answer);
  nodeTimes.push(performance.now() - s);
}
const nodeFirst = nodeLoad + nodeTimes[0];
const nodeImageParts: number[] = [];
for (const t of tests.slice(1)) {
  const s = performance.now();
  await m.processor.load(t.bytes);
  nodeImageParts.push(performance.now() - s);
}
const nodeImageMs = median(nodeImageParts);
const nodeTrip = await gpuWait(() => roundTrip(gpu.device));
m.artifact.destroy();
gpu.destroy();

const meta = servableMeta(model);
const served = await servePage(await pageFiles(meta, 'MNIST-grid VQA'), { artifactDir: model, meta });
const browser = await launchBrowser();
type Api = {
  peftgraph: {
    model: Promise<import('../src/runtime/index.ts').BundledModel>;
    ready: Promise<{ loadMs: number; adapter: string }>;
    ask(b: string, q: string, top: number): Promise<{ result: { answer: string }[]; ms: number; sinceLoadMs: number }>;
  };
};
let row: string[];
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 720, height: 600 });
  await page.goto(served.url);
  const ready = await page.evaluate(() => (globalThis as unknown as Api).peftgraph.ready);
  const times: number[] = [];
  let first = 0;
  let same = 0;
  for (const [i, t] of tests.entries()) {
    const r = await page.evaluate(
      (b, q) => (globalThis as unknown as Api).peftgraph.ask(b, q, 1),
      t.bytes.toString('base64'),
      t.question,
    );
    times.push(r.ms);
    if (i === 0) first = r.sinceLoadMs;
    if (r.result[0].answer === nodeAnswers[i]) same++;
  }
  // Where a question's time goes: the image (decode, resize, normalize) and the rest (tokenize, run, rank).
  const part = async (b64: string) =>
    page.evaluate(async (b) => {
      const m = await (globalThis as unknown as Api).peftgraph.model;
      const bytes = Uint8Array.from(atob(b), (ch) => ch.charCodeAt(0));
      const t = performance.now();
      await m.processor.load(bytes);
      return performance.now() - t;
    }, b64);
  const trip = (await page.evaluate(
    `(async () => { const a = await navigator.gpu.requestAdapter(); const d = await a.requestDevice(); const r = await (${roundTrip.toString()})(d); d.destroy(); return r; })()`,
  )) as number;
  const imageMs: number[] = [];
  for (const t of tests.slice(1)) imageMs.push(await part(t.bytes.toString('base64')));
  // The screenshot: by hand, as a user would.
  const shot = tests[0];
  const input = await page.$('#image');
  await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(join(DATA, shot.image));
  await page.type('#question', shot.question);
  await page.click('#go');
  await page.waitForFunction(() => /answered in/.test(document.getElementById('status')?.textContent ?? ''));
  writeFileSync(join(ROOT, 'docs', 'web-demo.png'), await page.screenshot({ type: 'png' }));
  const f = (x: number) => x.toFixed(0);
  console.log(`browser: ${await browser.version()}, adapter ${ready.adapter}; node: Dawn, ${gpu.info.description}`);
  console.log(`top answers equal on ${same} of ${tests.length} questions`);
  row = [
    `| load (ms) | ${f(ready.loadMs)} | ${f(nodeLoad)} | ${(ready.loadMs / nodeLoad).toFixed(2)} |`,
    `| first answer since start (ms) | ${f(first)} | ${f(nodeFirst)} | ${(first / nodeFirst).toFixed(2)} |`,
    `| of which the image: decode, resize, normalize (ms) | ${imageMs.length ? median(imageMs).toFixed(1) : '-'} | ${nodeImageMs.toFixed(1)} | ${(median(imageMs) / nodeImageMs).toFixed(2)} |`,
    `| one GPU round trip: a 4-byte copy read back (ms) | ${trip.toFixed(2)} | ${nodeTrip.toFixed(2)} | ${(trip / nodeTrip).toFixed(2)} |`,
    `| per question, median of ${N} (ms) | ${f(median(times.slice(1)))} | ${f(median(nodeTimes.slice(1)))} | ${(median(times.slice(1)) / median(nodeTimes.slice(1))).toFixed(2)} |`,
  ];
} finally {
  await browser.close();
  await served.close();
}
console.log('| | page (Chromium, SwiftShader) | node (Dawn, lavapipe) | page / node |\n|---|---|---|---|');
console.log(row.join('\n'));
