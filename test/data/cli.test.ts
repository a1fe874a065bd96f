/**
 * The user's path with no code of their own: `peftgraph train <spec> --data <dir>` on HF-layout
 * towers, a tokenizer.json, PNG files and JSONL splits (the shipped example), then
 * `peftgraph predict`; and bad records ending in one clear line, not a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, cli, copyVitProcessor, fixtureLiteral, indexLiteral } from '../helpers/cli.ts';
import { vl } from '../../src/dsl/index.ts';
import { hf } from '../../src/hf/towers.ts';
import { specOfCheckpoint } from '../../src/train/adapter.ts';

describe('train and predict from VQA files', () => {
  const out = mkdtempSync(join(tmpdir(), 'peftgraph-cli-'));

  it('trains the example spec on a k-shot draw of examples/mnist-vqa and writes the answer list', () => {
    const r = cli(
      'train',
      'examples/mnist-vqa.spec.ts',
      '--data',
      'examples/mnist-vqa',
      '--k',
      '16',
      '--epochs',
      '2',
      '--batch',
      '8',
      '--out',
      out,
    );
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/answers: 25 classes from 400 training records/);
    // Dawn's native adapter-limit warnings (lavapipe) are kept out of the output (bin/peftgraph.mjs).
    expect(r.stderr + r.stdout).not.toMatch(/artificially reduced/);
    expect(r.stdout).toMatch(/train: 16 records\ndev: 16 records\ntest: 300 records/);
    expect(r.stdout).toMatch(/vision: vit from .*mnist-vqa\/vit \(model\.safetensors\): 40 tensors loaded/);
    // The prefix embedding the towers were pretrained with starts from its init file (spec .init()).
    expect(r.stdout).toMatch(/\ninit: .*mnist-vqa\/prefix\.safetensors: 5 tensors, 4,544 values \(prefix\.ln\.b, /);
    expect(r.stdout).toMatch(/mixphm +\d[\d,]* +trainable/);
    expect(r.stdout).toMatch(/test: VQA accuracy 0\.\d+/);
    expect(r.stdout).toMatch(
      /test-0000\.png: "what is the sum of the two top digits\?" -> .+ \(0\.\d\d\); annotators: 1 x8, 3 x1, 18 x1/,
    );
    for (const f of ['best.safetensors', 'merged.safetensors', 'answers.json', 'curve.svg', 'curve.png'])
      expect(existsSync(join(out, f)), f).toBe(true);
    // The per-step log (2 epochs of 16 / 8 steps) and its curves: every loss term, the lr, the grad norm.
    const steps = readFileSync(join(out, 'steps.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(steps.map((r) => r.step)).toEqual([0, 1, 2, 3]);
    expect(Object.keys(steps[0].losses).sort()).toEqual(['loss', 'loss_red', 'loss_rel', 'loss_task']);
    const svg = readFileSync(join(out, 'curve.svg'), 'utf8');
    for (const series of ['loss_red', 'loss_rel', 'learning rate', 'grad norm', 'dev accuracy'])
      expect(svg).toContain(series);
    expect(readFileSync(join(out, 'curve.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(JSON.parse(readFileSync(join(out, 'answers.json'), 'utf8'))).toHaveLength(27);
    // The adapter's card: both methods, the pretrained base, the k-shot draw, dev and test scores as train printed them.
    const card = readFileSync(join(out, 'README.md'), 'utf8');
    expect(card).toContain('tags: ["peftgraph","mixphm","lora","vqa"]');
    expect(card).toMatch(
      /- vision: vit from `.*examples\/mnist-vqa\/vit`\n- text: bert from `.*examples\/mnist-vqa\/bert`\n- init file: `.*examples\/mnist-vqa\/prefix\.safetensors`/,
    );
    expect(card).toContain('--data examples/mnist-vqa (a k-shot draw: k 16, seed 42).');
    const test = JSON.parse(readFileSync(join(out, 'test.json'), 'utf8'));
    expect(card).toContain(`- test VQA accuracy: ${test.accuracy.toFixed(4)}`);
    expect(card).toMatch(/- dev VQA accuracy: \d\.\d{4} \(best, epoch \d+; these weights\)/);
  });

  it('predicts the top answers for an image and a question', () => {
    const ask = (checkpoint: string, ...more: string[]) =>
      cli(
        'predict',
        'examples/mnist-vqa.spec.ts',
        '--checkpoint',
        join(out, checkpoint),
        '--image',
        'examples/mnist-vqa/images/test-0001.png',
        '--question',
        'is the sum of all digits even?',
        '--top',
        '3',
        ...more,
      );
    const r = ask('best.safetensors');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter((l) => /^\d\.\d{4} {2}/.test(l));
    expect(lines).toHaveLength(3);
    const scores = lines.map((l) => Number(l.slice(0, 6)));
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    const answers = JSON.parse(readFileSync(join(out, 'answers.json'), 'utf8'));
    for (const l of lines) expect(answers).toContain(l.slice(8));
    // The adapter file (best weights, no optimizer state) answers the same.
    const a = ask('adapter.safetensors', '--answers', join(out, 'answers.json'));
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toBe(r.stdout);
    // The run directory alone: its adapter, the spec it records, the answers beside it.
    const question = [
      '--image',
      'examples/mnist-vqa/images/test-0001.png',
      '--question',
      'is the sum of all digits even?',
      '--top',
      '3',
    ];
    const d = cli('predict', '--adapter', out, ...question);
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toBe(r.stdout);
    const both = cli('predict', '--adapter', out, '--checkpoint', join(out, 'best.safetensors'), ...question);
    expect(both.stderr.trim()).toBe('peftgraph: --checkpoint and --adapter both name the weights: give one');
    const none = cli('predict', ...question);
    expect(none.stderr.trim()).toMatch(/^peftgraph: name the trained weights: --adapter/);
    // A spec file other than the recorded one: where they differ, and that the argument can go.
    const other = JSON.parse(JSON.stringify(specOfCheckpoint(join(out, 'adapter.safetensors'))));
    other.insertions[1].rank = 4;
    writeFileSync(join(out, 'other.json'), JSON.stringify(other));
    const differs = cli('predict', join(out, 'other.json'), '--adapter', out, ...question);
    expect(differs.stderr.trim()).toMatch(
      /was trained with another spec than .*other\.json \(insertions\.1\.rank: 8 when trained, 4 now\): leave the spec argument out to use the one it records, or pass --allow-mismatch$/,
    );
  });

  it('a second run into the same --out is refused unless --overwrite; --out under /proc or empty is a one-line error', () => {
    const again = cli(
      'train',
      'examples/mnist-vqa.spec.ts',
      '--data',
      'examples/mnist-vqa',
      '--k',
      '16',
      '--epochs',
      '1',
      '--out',
      out,
    );
    expect(again.status).toBe(1);
    expect(again.stderr.trim()).toMatch(
      /^peftgraph: --out .* holds another run \(best\.safetensors, .*\): choose a new directory, or pass --overwrite to replace it$/,
    );
    for (const bad of ['/proc/peftgraph-x', '']) {
      const r = cli(
        'train',
        'examples/mnist-vqa.spec.ts',
        '--data',
        'examples/mnist-vqa',
        '--k',
        '16',
        '--epochs',
        '1',
        '--out',
        bad,
      );
      expect(r.status, bad).toBe(1);
      expect(r.stderr.trim(), bad).toMatch(
        /^peftgraph: (\/proc\/peftgraph-x: cannot make \/proc\/peftgraph-x|--out names no directory)/,
      );
    }
    const merge = cli(
      'merge',
      'examples/mnist-vqa.spec.ts',
      '--checkpoint',
      join(out, 'adapter.safetensors'),
      '--out',
      join(out, '.', 'adapter.safetensors'),
    );
    expect(merge.stderr.trim()).toMatch(/is the checkpoint it merges: write the merged weights to another file$/);
  });

  it('merges the adapter into its base: the merged weights train wrote', () => {
    const r = cli(
      'merge',
      'examples/mnist-vqa.spec.ts',
      '--checkpoint',
      join(out, 'adapter.safetensors'),
      '--out',
      join(out, 'merged-again.safetensors'),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(
      readFileSync(join(out, 'merged-again.safetensors')).equals(readFileSync(join(out, 'merged.safetensors'))),
    ).toBe(true);
    // HF layout: MixPHM stays a module after merging, so the example is refused, saying why; nothing written.
    const hfDir = join(out, 'hf');
    const h = cli('merge', '--adapter', out, '--hf', hfDir);
    expect(h.status).toBe(1);
    expect(h.stderr.trim()).toMatch(
      /^peftgraph: merge --hf: mixphm stays a module of its own after merging \(.*\): HF's layout has no place for it\..*merge --out merged\.safetensors\)$/,
    );
    expect(existsSync(hfDir)).toBe(false);
    expect(cli('merge', '--adapter', out).stderr.trim()).toBe(
      'peftgraph: name one output: --out <file> (peftgraph merged weights) or --hf <dir> (HF layout)',
    );
    // An existing file is replaced only when asked.
    expect(cli('merge', '--adapter', out, '--out', join(out, 'merged-again.safetensors')).stderr.trim()).toMatch(
      /merged-again\.safetensors exists: choose another file, or pass --overwrite/,
    );
    expect(cli('merge', '--adapter', out, '--out', join(out, 'merged-again.safetensors'), '--overwrite').status).toBe(
      0,
    );
  });

  it('evaluates the checkpoint on the test split of the VQA files with the answers it was trained on', () => {
    const r = cli(
      'eval',
      'examples/mnist-vqa.spec.ts',
      '--data',
      'examples/mnist-vqa',
      '--checkpoint',
      join(out, 'best.safetensors'),
      '--split',
      'test',
    );
    expect(r.status, r.stderr).toBe(0);
    const train = readFileSync(join(out, 'test.json'), 'utf8');
    const acc = Number(/"accuracy": ([\d.]+)/.exec(train)![1]);
    // The same weights, data and answers as train's own test evaluation.
    expect(r.stdout).toContain(`test: VQA accuracy ${acc.toFixed(4)}`);
    // The run directory without the spec file: the adapter holds the best weights and the spec.
    const d = cli('eval', '--adapter', out, '--data', 'examples/mnist-vqa', '--split', 'test');
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toContain(`test: VQA accuracy ${acc.toFixed(4)}`);
  });

  it("compile --adapter bundles weights, tokenizer, processor and answers: the runtime's loadModel answers as predict does", () => {
    const model = join(out, 'model');
    const c = cli('compile', '--adapter', out, '--merged', '--batch', '2', '--out', model);
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toContain(
      'bundled: weights.safetensors, answers.json, tokenizer/tokenizer.json, tokenizer/tokenizer_config.json, tokenizer/config.json, processor/preprocessor_config.json',
    );
    for (const f of ['model.ts', 'model.js', 'model.d.ts', 'package.json'])
      expect(existsSync(join(model, f)), f).toBe(true);
    // Compiled again over it, unmerged and unbundled: nothing of the first artifact lingers.
    const again = join(out, 'model-again');
    expect(cli('compile', '--adapter', out, '--merged', '--batch', '2', '--out', again).status).toBe(0);
    expect(cli('compile', 'examples/mnist-vqa.spec.ts', '--batch', '1', '--out', again).status).toBe(0);
    expect(existsSync(join(again, 'weights.safetensors'))).toBe(false);
    const named = new Set<string>(
      JSON.parse(readFileSync(join(again, 'plan.json'), 'utf8')).plans.flatMap(
        (p: { plan: { kernels: { file: string }[] } }) => p.plan.kernels.map((k) => k.file),
      ),
    );
    expect(
      readdirSync(join(again, 'kernels'))
        .map((f) => `kernels/${f}`)
        .sort(),
    ).toEqual([...named].sort());
    const question = [
      '--image',
      'examples/mnist-vqa/images/test-0001.png',
      '--question',
      'is the sum of all digits even?',
      '--top',
      '3',
    ];
    const want = cli('predict', '--adapter', out, ...question);
    expect(want.status, want.stderr).toBe(0);
    // The runtime alone (no compiler): the bundled weights, and the same merged weights given as a path.
    const script = join(out, 'runtime-predict.mts');
    writeFileSync(
      script,
      `import { acquireDevice, loadModel } from '${join(ROOT, 'src', 'runtime', 'index.ts')}';
const gpu = await acquireDevice();
for (const weights of [undefined, process.argv[3]]) {
  const m = await loadModel(gpu, process.argv[2], { weights });
  for (const a of await m.predict('examples/mnist-vqa/images/test-0001.png', 'is the sum of all digits even?', { top: 3 })) console.log(\`\${a.score.toFixed(4)}  \${a.answer}\`);
  m.destroy();
}
// Misuse is refused by name, never ignored (a misspelled option once loaded the bundled weights).
const img = 'examples/mnist-vqa/images/test-0001.png';
const said = async (f: () => Promise<unknown>) => f().then(() => console.log('accepted'), (e) => console.log('refused:', (e as Error).message.split(': ').slice(1).join(': ')));
await said(() => loadModel(gpu, process.argv[2], { weight: 'random' } as never));
await said(() => loadModel(gpu, process.argv[2], { weights: null } as never));
const m = await loadModel(gpu, process.argv[2]);
await said(() => m.predict(img, ' '));
await said(() => m.predict(img, 'q?', { top: 0 }));
m.destroy();
gpu.destroy();
`,
    );
    const got = spawnSync(process.execPath, ['--import', 'tsx', script, model, join(out, 'merged.safetensors')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const refusals = got.stdout.split('\n').filter((l) => l.startsWith('refused:') || l === 'accepted');
    expect(refusals).toEqual([
      "refused: loadModel: unknown option 'weight'; valid: weights",
      'refused: loadModel: weights is null; leave it out for the bundled weights',
      'refused: predict: the question is " "; ask one (training refuses empty questions too)',
      'refused: predict: top is 0; it takes a whole number >= 1',
    ]);
    expect(got.status, got.stderr).toBe(0);
    // LoRA and the experts folded: the same answers, scores within rounding of the unmerged model's.
    const parse = (text: string) =>
      text
        .trim()
        .split('\n')
        .filter((l) => /^\d\.\d{4} {2}/.test(l))
        .map((l) => ({ score: Number(l.slice(0, 6)), answer: l.slice(8) }));
    const expected = parse(want.stdout);
    const runs = parse(got.stdout);
    expect(runs.map((r) => r.answer)).toEqual([...expected, ...expected].map((r) => r.answer));
    runs.forEach((r, i) => expect(Math.abs(r.score - expected[i % 3].score)).toBeLessThanOrEqual(2e-4));
    // A bundled file edited after compile is refused, as a kernel is.
    writeFileSync(
      join(model, 'answers.json'),
      JSON.stringify(JSON.parse(readFileSync(join(model, 'answers.json'), 'utf8')).reverse()),
    );
    const edited = spawnSync(process.execPath, ['--import', 'tsx', script, model, join(out, 'merged.safetensors')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(edited.stderr).toMatch(/plan\.json, a kernel or a bundled file changed after compile/);
  });

  it('a bad record is one line naming the file and line, exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftgraph-bad-'));
    writeFileSync(join(dir, 'train.jsonl'), '{"image": "missing.png", "question": "q?", "answers": ["1"]}\n');
    const r = cli('train', 'examples/mnist-vqa.spec.ts', '--data', dir, '--epochs', '1', '--out', join(dir, 'run'));
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^peftgraph: .*train\.jsonl:1: image .*missing\.png does not exist$/);
  });
});

describe('spec files anywhere', () => {
  it('a .ts spec outside any ESM package loads, and its hf paths resolve against its own directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftgraph-spec-'));
    cpSync(join(ROOT, 'test', 'fixtures', 'hf', 'vit'), join(dir, 'models', 'vit'), { recursive: true });
    writeFileSync(
      join(dir, 'spec.ts'),
      `import { hf, vl } from ${JSON.stringify(join(ROOT, 'src', 'index.ts'))};\nexport default vl.model({ vision: hf.vision('models/vit'), head: vl.features() });\n`,
    );
    const r = cli('explain', join(dir, 'spec.ts'), '--mode', 'infer');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`vision: vit from ${join(dir, 'models', 'vit')} (model.safetensors): 40 tensors loaded`);
    // The same spec as JSON, its directory relative: resolved against the file too, not the working directory.
    const spec = JSON.parse(
      JSON.stringify(vl.model({ vision: hf.vision(join(dir, 'models', 'vit')), head: vl.features() }).spec),
    );
    spec.vision.pretrained.dir = 'models/vit';
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
    const j = cli('explain', join(dir, 'spec.json'), '--mode', 'infer');
    expect(j.status, j.stderr).toBe(0);
    expect(j.stdout).toContain(`vision: vit from ${join(dir, 'models', 'vit')} (model.safetensors): 40 tensors loaded`);
  });
});

describe('captioning with a decoder LM (ViT + GPT-2) from the command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftgraph-caption-'));
  writeFileSync(
    join(dir, 'spec.mts'),
    `import { hf, peft, vl } from ${indexLiteral};
export default vl
  .model({ vision: hf.vision(${fixtureLiteral('hf/vit')}), text: hf.text(${fixtureLiteral('hf/gpt2')}, { maxLen: 6 }), visualPrefix: 'pooled', head: vl.lm() })
  .inputs({ tokenizer: ${fixtureLiteral('tokenizers/bpe')}, processor: ${JSON.stringify(dir)} })
  .freeze('**')
  .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2, routing: 'inner' }));
`,
  );
  copyVitProcessor(dir);
  // Each image's caption is a fixed token sequence; images are flat colours.
  writeFileSync(
    join(dir, 'data.mts'),
    `const ex = (i: number) => ({ image: new Float32Array(3 * 16 * 16).fill((i % 4) / 4 - 0.5), tokens: Int32Array.from([4 + (i % 4), 9, 10 + (i % 4), 2, 1, 1]), mask: Float32Array.from([1, 1, 1, 1, 0, 0]) });
export default () => ({ train: { examples: Array.from({ length: 8 }, (_, i) => ex(i)) }, dev: { examples: [0, 1, 2, 3].map(ex) }, test: { examples: [0, 1, 2, 3].map(ex) } });
`,
  );

  it('trains, selects on dev next-token accuracy, evaluates, and captions an image by beam search (and greedily)', () => {
    const t = cli(
      'train',
      join(dir, 'spec.mts'),
      '--data',
      join(dir, 'data.mts'),
      '--epochs',
      '4',
      '--batch',
      '4',
      '--lr',
      '3e-2',
      '--out',
      join(dir, 'run'),
    );
    expect(t.status, t.stderr + t.stdout).toBe(0);
    expect(t.stdout).toMatch(/best dev next-token accuracy 0\.\d{4} at epoch \d/);
    expect(t.stdout).toMatch(
      /test: next-token accuracy 0\.\d{4}, whole-text match 0\.\d{4}, loss \d+\.\d{4} \(4 examples\)/,
    );
    const e = cli(
      'eval',
      join(dir, 'spec.mts'),
      '--data',
      join(dir, 'data.mts'),
      '--checkpoint',
      join(dir, 'run', 'best.safetensors'),
      '--batch',
      '4',
    );
    expect(e.status, e.stderr).toBe(0);
    const test = JSON.parse(readFileSync(join(dir, 'run', 'test.json'), 'utf8'));
    expect(e.stdout).toContain(`test: next-token accuracy ${test.accuracy.toFixed(4)}`);
    const p = cli(
      'predict',
      join(dir, 'spec.mts'),
      '--checkpoint',
      join(dir, 'run', 'adapter.safetensors'),
      '--image',
      join(ROOT, 'test', 'fixtures', 'images', 'rgb.png'),
    );
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout.trim()).toMatch(
      /^".*" \(\d tokens, stopped at (end of sequence|maxLen); beam 3, score -?\d+\.\d{4}\):( \d+)*$/,
    );
    const g = cli(
      'predict',
      join(dir, 'spec.mts'),
      '--checkpoint',
      join(dir, 'run', 'adapter.safetensors'),
      '--image',
      join(ROOT, 'test', 'fixtures', 'images', 'rgb.png'),
      '--beam',
      '1',
    );
    expect(g.status, g.stderr).toBe(0);
    expect(g.stdout.trim()).toMatch(/^".*" \(\d tokens, stopped at (end of sequence|maxLen); greedy\):( \d+)*$/);
    const q = cli(
      'predict',
      join(dir, 'spec.mts'),
      '--checkpoint',
      join(dir, 'run', 'adapter.safetensors'),
      '--image',
      join(ROOT, 'test', 'fixtures', 'images', 'rgb.png'),
      '--question',
      'what?',
    );
    expect(q.status).toBe(1);
    expect(q.stderr).toMatch(
      /--question is for a classifier head or an encoder-decoder; a decoder LM captions the image/,
    );
    // Compiled with the adapter bundled, the runtime alone captions the image the same way.
    const c = cli(
      'compile',
      '--adapter',
      join(dir, 'run'),
      '--batch',
      '1',
      '--out',
      join(dir, 'model'),
      '--runtime-import',
      join(ROOT, 'src', 'runtime', 'index.ts'),
    );
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toContain('bundled: weights.safetensors, tokenizer/tokenizer.json');
    expect(c.stdout).toMatch(/captions: beam 3 over a KV cache \(prefill \d+ kernels, step \d+\)/);
    writeFileSync(
      join(dir, 'caption.mts'),
      `import { acquireDevice, loadModel } from '${join(ROOT, 'src', 'runtime', 'index.ts')}';
const gpu = await acquireDevice();
const m = await loadModel(gpu, process.argv[2]);
const c = await m.caption(process.argv[3]);
await m.predict(process.argv[3], 'what?').catch((e) => console.log(e.message));
console.log(JSON.stringify(c));
// The generated module's typed generate(): the same ids from the image's pixels and the tokenizer's ids.
const model = await import(process.argv[2] + '/model.js');
const net = await model.load(gpu);
const px = await m.processor.load(process.argv[3]);
const g = await net.generate(px, { eos: m.tokenizer.eosId, pad: m.tokenizer.padId });
console.log(JSON.stringify(g.ids));
// Misuse is refused by name: an id outside the vocabulary, a prompt filling maxLen, a NaN penalty, a wrong-sized image.
for (const o of [{ prompt: [9999] }, { prompt: [4, 4, 4, 4, 4, 4] }, { lengthPenalty: Number.NaN }])
  await net.generate(px, { eos: m.tokenizer.eosId, pad: m.tokenizer.padId, ...o }).then(() => console.log('accepted'), (e) => console.log(e.message.split('generate: ')[1]));
await net.generate(new Float32Array(3), { eos: 2, pad: 1 }).catch((e) => console.log(e.message.split('generate: ')[1]));
net.destroy();
m.destroy();
gpu.destroy();
`,
    );
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(dir, 'caption.mts'),
        join(dir, 'model'),
        join(ROOT, 'test', 'fixtures', 'images', 'rgb.png'),
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const [refusal, json, generated, ...misuse] = r.stdout.trim().split('\n');
    expect(misuse).toEqual([
      'prompt[0] 9999 is not a token id (0 to 49)',
      'the prompt takes 6 tokens, leaving none of maxLen 6 to generate',
      'lengthPenalty is NaN; it takes a finite number',
      'image has 3 values, the model takes 768 ([3,16,16])',
    ]);
    expect(refusal).toMatch(/a captioning model: call caption\(image\), not predict\(image, question\)/);
    const got = JSON.parse(json);
    expect(
      `${JSON.stringify(got.text)} (${got.ids.length} tokens, stopped at ${got.stop === 'eos' ? 'end of sequence' : 'maxLen'}; beam ${got.beam}, score ${got.score.toFixed(4)}): ${got.ids.join(' ')}`.trim(),
    ).toBe(p.stdout.trim());
    expect(JSON.parse(generated)).toEqual(got.ids);
  });
});
