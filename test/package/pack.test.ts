/**
 * The package as a user gets it: `npm pack`, installed into a fresh project, imported from plain
 * node (no TS loader), type-checked under `tsc --init`'s strict defaults, trained on the GPU
 * through the public API, the installed CLI run on a .ts spec (tsx loaded on demand) and a
 * .json spec, and a bundled artifact served from plain node by the runtime alone.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const tsc = join(root, 'node_modules/.bin/tsc');
/** Runs a command; a failure carries its output (tsc prints its errors on stdout). */
function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

interface PackInfo {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

const SPEC = `vl.model({
  vision: vl.vit({ image: [16, 16], patch: 8, width: 8, depth: 1, heads: 2 }),
  text: vl.encoder({ vocab: 8, maxLen: 3, width: 8, depth: 1, heads: 2 }),
  visualPrefix: 'pooled',
  head: vl.classifier({ answers: 4 }),
}).insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2 }))`;

// Plain node: the public API end to end (spec, data, soft targets, training, safetensors).
const APP_JS = `import { vl, peft, train, trainConfig, softTargets, writeSafetensors, readSafetensors } from 'peftgraph';
import { acquireDevice } from 'peftgraph/runtime';
const spec = ${SPEC};
const examples = Array.from({ length: 8 }, (_, i) => ({
  image: Float32Array.from({ length: 256 }, (_, j) => ((i * 7 + j) % 5) / 5),
  tokens: Int32Array.of(i % 8, 1, 2),
  mask: Float32Array.of(1, 1, 1),
  targets: softTargets([i % 4, i % 4, 0], 4),
}));
const gpu = await acquireDevice();
const r = await train(gpu, spec.spec, { train: { examples } }, trainConfig({ epochs: 2, batch: 4, lr: 1e-2 }));
const path = process.argv[2];
writeSafetensors(path, Object.fromEntries(Object.entries(r.bestWeights).map(([k, v]) => [k, { shape: [v.length], data: v }])));
const back = readSafetensors(path);
gpu.destroy();
console.log(JSON.stringify({ losses: r.history.map((h) => h.loss), tensors: back.tensors.size, trained: Object.keys(r.bestWeights).length }));
`;

// Typed use; each @ts-expect-error fails the check if the types were lost (any) or wrong.
const APP_TS = `import { vl, peft, trainConfig, type Dataset, type TrainConfig, type ModelSpec } from 'peftgraph';
import { acquireDevice, type Gpu } from 'peftgraph/runtime';
const spec: ModelSpec = ${SPEC}.spec;
const cfg: TrainConfig = trainConfig({ epochs: 1 });
const data: Dataset = { examples: [] };
export const gpu: Promise<Gpu> = acquireDevice();
export const all = [spec, cfg, data];
// @ts-expect-error rank is a number
peft.lora({ at: 'text.layers.*.attn.q', rank: 'two' });
// @ts-expect-error the optimizer is adamw or sgd
export const bad: TrainConfig = trainConfig({ optimizer: { kind: 'adam' } });
`;

describe('the packed package', () => {
  let info: PackInfo;
  let app: string;
  let tgz: string;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'peftgraph-pack-'));
    info = (JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir], root)) as PackInfo[])[0];
    tgz = join(dir, info.filename);
    app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tgz], app);
  }, 300_000);

  it('holds the built library, the kernels and the CLI, and no tests, sources or bench data', () => {
    const paths = info.files.map((f) => f.path);
    for (const p of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/runtime/index.js',
      'dist/runtime/index.d.ts',
      'dist/cli/main.js',
      'kernels/matmul_tiled.wgsl',
      'bin/peftgraph.mjs',
    ])
      expect(paths).toContain(p);
    // Of bench/, only the pages the docs link to (what was measured, and how).
    expect(
      paths.filter(
        (p) =>
          /^(src|test|bench|examples|scripts)\//.test(p) &&
          !/^bench\/(README\.md|vqa\/README\.md|results\/[\w-]+\.md)$/.test(p),
      ),
    ).toEqual([]);
    expect(paths).toContain('bench/results/seed-settings.md');
    // The library, its kernels, the docs and the bench result pages they link (no data, no checkpoints:
    // one checkpoint alone is 400 kB). Packed 500.5 kB at issue 35's routing and caption gates,
    // bench/vqa/README.md (73 kB unpacked) growing with each measured setting.
    expect(info.size).toBeLessThan(550_000);
  });

  it('type-checks under the default strict tsconfig', () => {
    run(tsc, ['--init'], app);
    writeFileSync(join(app, 'app.ts'), APP_TS);
    // tsc exits non-zero (and execFileSync throws with its output) on any error.
    expect(() => run(tsc, ['-p', '.', '--noEmit'], app)).not.toThrow();
  });

  it('trains from plain node through the public API', () => {
    writeFileSync(join(app, 'main.mjs'), APP_JS);
    const out = JSON.parse(
      run('node', ['main.mjs', join(app, 'best.safetensors')], app)
        .trim()
        .split('\n')
        .at(-1) as string,
    );
    expect(out.losses).toHaveLength(2);
    for (const l of out.losses) expect(Number.isFinite(l)).toBe(true);
    expect(out.tensors).toBe(out.trained);
    expect(out.tensors).toBeGreaterThan(0);
  });

  it("runs the README's library example as printed", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /```js\n(\/\/ train\.mjs\n[\s\S]*?)```/.exec(readme)?.[1];
    expect(example, 'the README has a ```js block starting with // train.mjs').toBeDefined();
    writeFileSync(join(app, 'train.mjs'), example!);
    const out = run('node', ['train.mjs'], app);
    // It prints the two epochs' losses and the best dev epoch.
    expect(out).toMatch(/\[\s*[\d.]+,\s*[\d.]+\s*\][\s\S]*epoch/);
  });

  it('serves a bundled artifact from plain node: loadModel predicts as the CLI does, and model.js runs', () => {
    const cli = join(app, 'node_modules/.bin/peftgraph');
    const ex = join(root, 'examples', 'mnist-vqa');
    writeFileSync(
      join(app, 'vqa.spec.ts'),
      `import { hf, peft, vl } from 'peftgraph';
export default vl
  .model({ vision: hf.vision(${JSON.stringify(join(ex, 'vit'))}), text: hf.text(${JSON.stringify(join(ex, 'bert'))}, { maxLen: 16 }), visualPrefix: 'pooled', head: vl.classifier({ answers: 27, loss: 'bce' }) })
  .freeze('**')
  .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 4 }));
`,
    );
    run(cli, ['train', 'vqa.spec.ts', '--data', ex, '--k', '16', '--epochs', '1', '--batch', '8', '--out', 'run'], app);
    expect(run(cli, ['compile', '--adapter', 'run', '--batch', '2', '--out', 'model'], app)).toMatch(
      /bundled: weights\.safetensors, answers\.json, tokenizer\/tokenizer\.json/,
    );
    const image = join(ex, 'images', 'test-0001.png');
    const question = 'is the sum of all digits even?';
    const want = run(cli, ['predict', '--adapter', 'run', '--image', image, '--question', question, '--top', '3'], app);
    writeFileSync(
      join(app, 'serve.mjs'),
      `import { acquireDevice, loadModel } from 'peftgraph/runtime';
import * as model from './model/model.js';
const gpu = await acquireDevice();
const m = await loadModel(gpu, 'model');
for (const a of await m.predict(${JSON.stringify(image)}, ${JSON.stringify(question)}, { top: 3 })) console.log(\`\${a.score.toFixed(4)}  \${a.answer}\`);
m.destroy();
// The generated module: typed constants and load() with the bundled weights.
const net = await model.load(gpu);
const [, c, h, w] = model.inputs.image.shape;
const out = await net.run({ image: new Float32Array(c * h * w), tokens: Int32Array.from({ length: 16 }, (_, i) => (i < 3 ? 2 + i : 0)), mask: Float32Array.from({ length: 16 }, (_, i) => (i < 3 ? 1 : 0)) });
console.log('model.js logits', out.logits.length, model.maxBatch);
net.destroy();
gpu.destroy();
`,
    );
    const got = run('node', ['serve.mjs'], app);
    // The same answers, scores within the last printed digit (another plan: no loss, batch buckets).
    const answers = (text: string) => text.split('\n').filter((l) => /^\d\.\d{4} {2}/.test(l));
    const [a, b] = [answers(got), answers(want)];
    expect(a.map((l) => l.slice(8))).toEqual(b.map((l) => l.slice(8)));
    expect(b).toHaveLength(3);
    a.forEach((l, i) => expect(Math.abs(Number(l.slice(0, 6)) - Number(b[i].slice(0, 6)))).toBeLessThanOrEqual(2e-4));
    expect(got).toContain('model.js logits 27 2\n');
    // In a default (`npm init`, CommonJS) project too: the artifact says its model.js is an ES module.
    const cjs = join(app, 'cjs');
    mkdirSync(cjs);
    writeFileSync(join(cjs, 'package.json'), JSON.stringify({ name: 'cjs', version: '1.0.0', main: 'index.js' }));
    cpSync(join(app, 'model'), join(cjs, 'model'), { recursive: true });
    expect(
      run('node', ['-e', "import('./model/model.js').then((m) => console.log('maxBatch', m.maxBatch))"], cjs),
    ).toContain('maxBatch 2');
  });

  it("bundles for a browser: a user's bundler gets peftgraph/runtime without node, and serve --out writes the page", () => {
    // The package's browser condition and "browser" field, as esbuild (like webpack, vite, rollup) reads them.
    writeFileSync(
      join(app, 'bundle.mjs'),
      `import { build } from 'esbuild';
const r = await build({ stdin: { contents: "import { acquireDevice, loadModel } from 'peftgraph/runtime'; globalThis.x = [acquireDevice, loadModel];", resolveDir: '.' }, bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });
const js = r.outputFiles[0].text;
console.log('bundled', js.length, /from\\s*"node:|require\\(/.test(js) ? 'with node' : 'without node', js.includes('navigator.gpu') ? 'navigator.gpu' : 'no navigator.gpu');
`,
    );
    expect(run('node', ['bundle.mjs'], app)).toMatch(/^bundled \d+ without node navigator\.gpu$/m);
    // The model the test above compiled, as a static site.
    const cli = join(app, 'node_modules/.bin/peftgraph');
    expect(run(cli, ['serve', 'model', '--out', 'site'], app)).toMatch(/wrote site\/index\.html/);
    expect(readFileSync(join(app, 'site', 'index.html'), 'utf8')).toContain('<script type="module" src="app.js">');
    expect(readFileSync(join(app, 'site', 'app.js'), 'utf8')).toContain('navigator.gpu');
    expect(existsSync(join(app, 'site', 'model', 'plan.json'))).toBe(true);
  });

  it('runs the installed CLI on a .ts spec (TS loader on demand) and on a .json spec', () => {
    const cli = join(app, 'node_modules/.bin/peftgraph');
    writeFileSync(
      join(app, 'spec.ts'),
      `import { vl, peft } from 'peftgraph';\nconst n: number = 2;\nexport default ${SPEC.replace('rank: 2', 'rank: n')};\n`,
    );
    const ts = run(cli, ['explain', 'spec.ts', '--batch', '4'], app);
    expect(ts).toMatch(/kernels/);
    const json = run(
      'node',
      ['--input-type=module', '-e', `import { vl, peft } from 'peftgraph'; console.log(JSON.stringify(${SPEC}.spec));`],
      app,
    );
    writeFileSync(join(app, 'spec.json'), json);
    expect(run(cli, ['explain', 'spec.json', '--batch', '4'], app)).toBe(ts);
  });
});
