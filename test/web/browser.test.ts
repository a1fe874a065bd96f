/**
 * The trained model in a web page, in a real browser (test/helpers/browser.ts): the example spec
 * trained briefly, compiled with its inputs bundled, served by `peftgraph serve`'s server and
 * loaded in headless Chromium's WebGPU (SwiftShader). Its answers and scores must equal node's
 * run of the same artifact (Dawn on lavapipe) within f32 tolerance; the page must work by hand
 * (upload, type, click) and show what it computed. No adapter in the page fails the test.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDevice, loadModel, type Answer, type BundledModel, type Gpu } from '../../src/runtime/index.ts';
import { pageFiles } from '../../src/web/page.ts';
import { servableMeta } from '../../src/web/servable.ts';
import { servePage, type Served } from '../../src/web/serve.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { ROOT, cli } from '../helpers/cli.ts';

const DATA = join(ROOT, 'examples', 'mnist-vqa');
const tests = readFileSync(join(DATA, 'test.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .slice(0, 5)
  .map((l) => JSON.parse(l) as { image: string; question: string });

interface PageAnswer {
  result: Answer[];
  ms: number;
}

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

/** The page for artifact `model`, served and opened; uncaught page errors are collected to assert on. */
async function openPage(model: string, title: string): Promise<{ served: Served; page: Page; errors: string[] }> {
  const meta = servableMeta(model);
  const served = await servePage(await pageFiles(meta, title), { artifactDir: model, meta });
  const page = await browser.newPage();
  await page.setViewport({ width: 720, height: 640 });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push((e as Error).message));
  await page.goto(served.url);
  return { served, page, errors };
}

/**
 * Within a describe: the artifact `build` compiles (its directory), served and opened in the
 * page, and the same artifact loaded in node; all released after.
 */
function servedModel(title: string, build: () => string) {
  const ctx = {} as { served: Served; page: Page; errors: string[]; gpu: Gpu; node: BundledModel };
  beforeAll(async () => {
    const model = build();
    Object.assign(ctx, await openPage(model, title));
    ctx.gpu = await acquireDevice();
    ctx.node = await loadModel(ctx.gpu, model);
  }, 300_000);
  afterAll(async () => {
    ctx.node?.artifact.destroy();
    ctx.gpu?.destroy();
    await ctx.served?.close();
  });
  return ctx;
}

describe('the demo page in headless Chromium', () => {
  const work = mkdtempSync(join(tmpdir(), 'peftgraph-web-'));
  const run = join(work, 'run');
  const model = join(work, 'model');
  const m = servedModel('MNIST-grid VQA', () => {
    const t = cli(
      'train',
      'examples/mnist-vqa.spec.ts',
      '--data',
      'examples/mnist-vqa',
      '--k',
      '32',
      '--epochs',
      '2',
      '--batch',
      '8',
      '--out',
      run,
    );
    expect(t.status, t.stderr + t.stdout).toBe(0);
    const c = cli('compile', '--adapter', run, '--merged', '--batch', '4', '--out', model);
    expect(c.status, c.stderr + c.stdout).toBe(0);
    return model;
  });

  it('finds a WebGPU adapter in the page and loads the artifact on it', async () => {
    // Rejects (failing the test) when the page has no adapter or the artifact does not load.
    const ready = await m.page.evaluate(
      () => (globalThis as unknown as { peftgraph: { ready: Promise<unknown> } }).peftgraph.ready,
    );
    expect(ready).toMatchObject({ task: 'vqa' });
    expect((ready as { loadMs: number }).loadMs).toBeGreaterThan(0);
  });

  it("answers the example's test questions as node's run of the same artifact does", async () => {
    for (const t of tests) {
      const image = readFileSync(join(DATA, t.image));
      const want = await m.node.predict(image, t.question, { top: 5 });
      const got = (await m.page.evaluate(
        (b64, q) =>
          (
            globalThis as unknown as { peftgraph: { ask(b: string, q: string, top: number): Promise<unknown> } }
          ).peftgraph.ask(b64, q, 5),
        image.toString('base64'),
        t.question,
      )) as PageAnswer;
      expect(
        got.result.map((a) => a.answer),
        t.question,
      ).toEqual(want.map((a) => a.answer));
      for (const [i, a] of got.result.entries()) expect(a.score).toBeCloseTo(want[i].score, 5);
    }
  });

  it('works by hand: choose an image, type a question, press Ask; shows the answers (screenshot)', async () => {
    const t = tests[0];
    const want = await m.node.predict(join(DATA, t.image), t.question, { top: 5 });
    const input = await m.page.$('#image');
    await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(join(DATA, t.image));
    await m.page.type('#question', t.question);
    await m.page.click('#go');
    await m.page.waitForFunction(() => /answered in/.test(document.getElementById('status')?.textContent ?? ''), {
      timeout: 60_000,
    });
    // biome-ignore lint/performance/useDomNodeTextContent: the text a user sees is what is checked
    const text = await m.page.evaluate(() => document.body.innerText);
    expect(text).toContain('MNIST-grid VQA');
    expect(text).toMatch(/answered in \d+ ms on /);
    const items = await m.page.$$eval('#answers li', (li) => li.map((e) => e.textContent));
    expect(items).toEqual(want.map((a) => `${a.answer} — ${a.score.toFixed(3)}`));
    const shot = await m.page.screenshot({ type: 'png' });
    // A PNG of the viewport, written where a run can look at it (docs/ holds the committed one).
    expect([...shot.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    mkdirSync(join(work, 'shots'), { recursive: true });
    writeFileSync(join(work, 'shots', 'demo.png'), shot);
    expect(m.errors).toEqual([]);
  });

  it('decodes images as node does, or refuses by name what it would decode otherwise', async () => {
    const FIX = join(ROOT, 'test', 'fixtures', 'images');
    const inPage = (b64: string) =>
      m.page.evaluate(async (b) => {
        const api = (globalThis as unknown as { peftgraph: { model: Promise<BundledModel> } }).peftgraph;
        try {
          return Array.from(await (await api.model).processor.load(Uint8Array.from(atob(b), (c) => c.charCodeAt(0))));
        } catch (e) {
          return (e as Error).message;
        }
      }, b64);
    // Opaque 8-bit PNGs (gray, palette, RGB): the model's inputs equal node's exactly.
    for (const f of ['gray.png', 'palette.png', 'rgb.png', ...tests.slice(0, 2).map((t) => join(DATA, t.image))]) {
      const bytes = readFileSync(f.includes('/') ? f : join(FIX, f));
      expect(await inPage(bytes.toString('base64')), f).toEqual(Array.from(await m.node.processor.load(bytes)));
    }
    // GIF and lossless WebP, written here from the RGB fixture.
    const rgb = readFileSync(join(FIX, 'rgb.png'));
    for (const bytes of [await sharp(rgb).gif().toBuffer(), await sharp(rgb).webp({ lossless: true }).toBuffer()])
      expect(await inPage(bytes.toString('base64'))).toEqual(Array.from(await m.node.processor.load(bytes)));
    expect(await inPage(readFileSync(join(FIX, 'rgba.png')).toString('base64'))).toMatch(
      /image bytes: has transparent pixels .*premultiplies alpha/,
    );
    expect(await inPage(readFileSync(join(FIX, 'rgb16.png')).toString('base64'))).toMatch(/a 16-bit PNG/);
    expect(await inPage(readFileSync(join(FIX, 'not-an-image.png')).toString('base64'))).toMatch(
      /not an image format the page decodes \(formats: png, jpeg, gif, webp\)/,
    );
  });

  it('says so on the page when the browser gives no WebGPU adapter, and its ready promise rejects', async () => {
    const off = await launchBrowser({ webgpu: false });
    try {
      const p = await off.newPage();
      await p.goto(m.served.url);
      await expect(
        p.evaluate(() => (globalThis as unknown as { peftgraph: { ready: Promise<unknown> } }).peftgraph.ready),
      ).rejects.toThrow(/no WebGPU adapter in this browser \(requestAdapter\(\) returned null\)/);
      expect(await p.$eval('#status', (e) => e.textContent)).toMatch(/^peftgraph: no WebGPU adapter in this browser/);
      expect(await p.$eval('#go', (e) => (e as HTMLButtonElement).disabled)).toBe(true);
    } finally {
      await off.close();
    }
  });

  it('refuses an artifact a page cannot run alone, naming what to bundle', () => {
    const bare = join(work, 'bare');
    expect(cli('compile', 'examples/mnist-vqa.spec.ts', '--batch', '1', '--out', bare).status).toBe(0);
    expect(() => servableMeta(bare)).toThrow(
      /bare: does not bundle the answer classes \(answers\.json\): a page reads only the artifact, so compile it with --adapter/,
    );
    expect(() => servableMeta(work)).toThrow(/not an artifact .*plan\.json/);
  });
});

describe('the page bundle', () => {
  it('reaches no node built-in and no native package: the .browser.ts modules replace node ones', async () => {
    const { bundlePage } = await import('../../src/web/bundle.ts');
    const js = await bundlePage();
    expect(js).not.toMatch(/from\s*"node:|require\(/);
    // The check is real: without the swap, node's host pulls in node:fs and sharp, and the build fails.
    await expect(bundlePage({ swap: false })).rejects.toThrow(/node:|sharp/);
  });
});

describe('a captioning model in the page', () => {
  const work = mkdtempSync(join(tmpdir(), 'peftgraph-web-cap-'));
  const images = tests.slice(0, 3).map((t) => join(DATA, t.image));
  const m = servedModel('MNIST-grid captions', () => {
    // A few caption records of the example's files (images by absolute path), trained briefly.
    const split = (name: string, n: number) => {
      const file = join(work, `${name}.jsonl`);
      const lines = readFileSync(join(DATA, `captions-${name}.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .slice(0, n);
      const records = lines.map((l) => ({ ...JSON.parse(l), image: join(DATA, JSON.parse(l).image) }));
      writeFileSync(file, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
      return file;
    };
    const [train, dev, test] = [split('train', 16), split('dev', 4), split('test', 4)];
    const run = join(work, 'run');
    const model = join(work, 'model');
    const r = cli(
      'train',
      'examples/mnist-captions.spec.ts',
      '--data',
      train,
      '--dev',
      dev,
      '--test',
      test,
      '--allow-outside-data',
      '--epochs',
      '1',
      '--batch',
      '8',
      '--out',
      run,
    );
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const c = cli('compile', '--adapter', run, '--batch', '1', '--out', model);
    expect(c.status, c.stderr + c.stdout).toBe(0);
    return model;
  });

  it('captions by beam search in the page as node does, and shows the caption by hand', async () => {
    for (const image of images) {
      const want = await m.node.caption(image);
      const got = (await m.page.evaluate(
        (b64) =>
          (globalThis as unknown as { peftgraph: { caption(b: string): Promise<unknown> } }).peftgraph.caption(b64),
        readFileSync(image).toString('base64'),
      )) as { result: { text: string; ids: number[]; score: number; beam: number } };
      expect(got.result.ids, image).toEqual(want.ids);
      expect(got.result.text).toBe(want.text);
      expect(got.result.beam).toBe(3);
      expect(got.result.score).toBeCloseTo(want.score!, 4);
    }
    const input = await m.page.$('#image');
    await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(images[0]);
    expect(await m.page.$eval('#question-row', (e) => (e as HTMLElement).hidden)).toBe(true);
    await m.page.click('#go');
    await m.page.waitForFunction(() => /captioned in/.test(document.getElementById('status')?.textContent ?? ''), {
      timeout: 60_000,
    });
    expect(await m.page.$$eval('#answers li', (li) => li.map((e) => e.textContent))).toEqual([
      (await m.node.caption(images[0])).text,
    ]);
    expect(m.errors).toEqual([]);
  });
});
