/**
 * The seeds' settings at real size through the CLI a user runs, on this adapter with its default
 * limits (issue 29): random-weight towers in HF layout (bench/hf-random.ts), real files.
 * - ViT-B/16 + RoBERTa-base, routed LoRA, VQA head: train, eval, predict, compile an inference
 *   artifact (merged) and run it from the compiler-free runtime;
 * - ViT-B/16 + GPT-2 small, routed LoRA, captioning LM (a data module of images and token ids):
 *   train, eval (next-token scores), predict (a greedy caption), compile and run an artifact;
 * - ViT-L/16 + RoBERTa-large, routed LoRA r = 128: compile (train and infer).
 * Prints a Markdown log: each command, its wall time and the lines that matter.
 *   npx tsx bench/seed-commands.ts [--cache .bench-cache]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureTower } from './hf-random.ts';

const { values: o } = parseArgs({ options: { cache: { type: 'string', default: '.bench-cache' } } });
const ROOT = resolve(import.meta.dirname, '..');
const root = resolve(o.cache!, 'seed');
const work = join(root, 'commands');
mkdirSync(work, { recursive: true });
const dir = (n: Parameters<typeof ensureTower>[1]) => ensureTower(root, n).dir;
const src = JSON.stringify(join(ROOT, 'src', 'index.ts'));
const lora = (r: number) => `peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: ${r}, alpha: ${r}, routing: 'inner' })`;

const spec = (name: string, body: string) => {
  const path = join(work, `${name}.spec.ts`);
  writeFileSync(path, `import { hf, peft, vl } from ${src};\nexport default ${body};\n`);
  return path;
};
const roberta = spec(
  'roberta',
  `vl.model({ vision: hf.vision(${JSON.stringify(dir('vit-base-patch16-224'))}), text: hf.text(${JSON.stringify(dir('roberta-base'))}, { maxLen: 32 }), visualPrefix: 'pooled', head: vl.classifier({ answers: 3129 }) }).freeze('**').insert(${lora(8)})`,
);
const gpt2 = spec(
  'gpt2',
  `vl.model({ vision: hf.vision(${JSON.stringify(dir('vit-base-patch16-224'))}), text: hf.text(${JSON.stringify(dir('gpt2'))}, { maxLen: 20 }), visualPrefix: 'pooled', head: vl.lm() }).freeze('**').insert(${lora(8)})`,
);
const large = spec(
  'roberta-large',
  `vl.model({ vision: hf.vision(${JSON.stringify(dir('vit-large-patch16-224'))}), text: hf.text(${JSON.stringify(dir('roberta-large'))}, { maxLen: 32 }), visualPrefix: 'pooled', head: vl.classifier({ answers: 3129 }) }).freeze('**').insert(${lora(128)})`,
);
// VQA files: the first records of the shipped MNIST-VQA splits (images resized to 224 by the ViT's processor).
const vqa = join(work, 'vqa');
mkdirSync(vqa, { recursive: true });
for (const [split, n] of [
  ['train', 16],
  ['dev', 8],
  ['test', 8],
] as const) {
  const { readFileSync } = await import('node:fs');
  const lines = readFileSync(join(ROOT, 'examples', 'mnist-vqa', `${split}.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .slice(0, n);
  writeFileSync(
    join(vqa, `${split}.jsonl`),
    `${lines.map((l) => l.replace('"images/', `"${join(ROOT, 'examples', 'mnist-vqa', 'images')}/`)).join('\n')}\n`,
  );
}
// Captions: each image's caption a fixed draw of GPT-2 token ids (random weights: nothing to learn from real text).
const captions = join(work, 'captions.data.ts');
writeFileSync(
  captions,
  `import { processorFor } from ${JSON.stringify(join(ROOT, 'src', 'data', 'encoders.ts'))};
import spec from ${JSON.stringify(gpt2)};
export default async ({ seed }: { seed: number }) => {
  const proc = processorFor(spec.spec as never);
  let s = seed + 1;
  const r = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const split = async (name: string, n: number) => ({
    examples: await Promise.all(Array.from({ length: n }, async (_, i) => {
      const len = 8 + Math.floor(r() * 12);
      return {
        image: await proc.load(${JSON.stringify(join(ROOT, 'examples', 'mnist-vqa', 'images'))} + '/' + name + '-' + String(i).padStart(4, '0') + '.png'),
        tokens: Int32Array.from({ length: 20 }, (_, j) => (j < len ? Math.floor(r() * 50256) : 50256)),
        mask: Float32Array.from({ length: 20 }, (_, j) => (j < len ? 1 : 0)),
      };
    })),
  });
  return { train: await split('train', 16), dev: await split('dev', 4), test: await split('test', 8) };
};
`,
);
const runner = join(work, 'run-artifact.ts');
writeFileSync(
  runner,
  `// Loads an artifact with its merged weights through the compiler-free runtime and runs one example.
import { pathToFileURL } from 'node:url';
import { Artifact, acquireDevice } from ${JSON.stringify(join(ROOT, 'src', 'runtime', 'index.ts'))};
import { SafetensorsFile } from ${JSON.stringify(join(ROOT, 'src', 'runtime', 'safetensors.ts'))};
const [dir, merged, kind] = process.argv.slice(2);
const f = SafetensorsFile.open(merged);
const w: Record<string, Float32Array> = {};
for (const k of f.tensors.keys()) w[k] = f.read(k);
f.close();
const gpu = await acquireDevice();
const t0 = performance.now();
const a = await Artifact.load(gpu, pathToFileURL(dir + '/'), w);
const L = kind === 'lm' ? 20 : 32;
const out = await a.run({ image: new Float32Array(3 * 224 * 224).fill(0.1), tokens: new Int32Array(L).fill(5), mask: new Float32Array(L).fill(1) });
console.log('artifact ran in', ((performance.now() - t0) / 1000).toFixed(1), 's; outputs', Object.entries(out).map(([k, v]) => k + ' ' + v.length + ' values, finite ' + v.every(Number.isFinite)).join('; '));
a.destroy();
gpu.destroy();
`,
);

const cli = (args: string[]) => [process.execPath, join(ROOT, 'bin', 'peftgraph.mjs'), ...args];
const tsx = (args: string[]) => [process.execPath, '--import', 'tsx', ...args];
const steps: [string, string[], RegExp][] = [
  [
    'RoBERTa-base: train',
    cli([
      'train',
      roberta,
      '--data',
      vqa,
      '--allow-outside-data',
      '--overwrite',
      '--epochs',
      '1',
      '--batch',
      '4',
      '--lr',
      '3e-4',
      '--out',
      join(work, 'runs', 'roberta'),
    ]),
    /^(model:|text:|frozen features|trained|best dev|test:|wrote)/,
  ],
  [
    'RoBERTa-base: eval',
    cli([
      'eval',
      roberta,
      '--data',
      vqa,
      '--allow-outside-data',
      '--checkpoint',
      join(work, 'runs', 'roberta', 'best.safetensors'),
      '--batch',
      '4',
    ]),
    /^test:/,
  ],
  [
    'RoBERTa-base: predict',
    cli([
      'predict',
      roberta,
      '--checkpoint',
      join(work, 'runs', 'roberta', 'adapter.safetensors'),
      '--image',
      join(ROOT, 'examples', 'mnist-vqa', 'images', 'test-0001.png'),
      '--question',
      'is the sum of all digits even?',
      '--top',
      '2',
    ]),
    /^\d/,
  ],
  [
    'RoBERTa-base: compile an inference artifact',
    cli(['compile', roberta, '--out', join(work, 'build', 'roberta'), '--mode', 'infer', '--merged', '--batch', '4']),
    /^infer/,
  ],
  [
    'RoBERTa-base: run the artifact',
    tsx([runner, join(work, 'build', 'roberta'), join(work, 'runs', 'roberta', 'merged.safetensors'), 'vqa']),
    /^artifact/,
  ],
  [
    'GPT-2: train',
    cli([
      'train',
      gpt2,
      '--data',
      captions,
      '--overwrite',
      '--epochs',
      '1',
      '--batch',
      '4',
      '--lr',
      '3e-4',
      '--out',
      join(work, 'runs', 'gpt2'),
    ]),
    /^(model:|text:|frozen features|trained|best dev|test:|wrote)/,
  ],
  [
    'GPT-2: eval',
    cli([
      'eval',
      gpt2,
      '--data',
      captions,
      '--checkpoint',
      join(work, 'runs', 'gpt2', 'best.safetensors'),
      '--batch',
      '4',
    ]),
    /^test:/,
  ],
  [
    'GPT-2: predict (greedy caption)',
    cli([
      'predict',
      gpt2,
      '--checkpoint',
      join(work, 'runs', 'gpt2', 'adapter.safetensors'),
      '--image',
      join(ROOT, 'examples', 'mnist-vqa', 'images', 'test-0001.png'),
    ]),
    /^"/,
  ],
  [
    'GPT-2: compile an inference artifact',
    cli(['compile', gpt2, '--out', join(work, 'build', 'gpt2'), '--mode', 'infer', '--merged', '--batch', '4']),
    /^infer/,
  ],
  [
    'GPT-2: run the artifact',
    tsx([runner, join(work, 'build', 'gpt2'), join(work, 'runs', 'gpt2', 'merged.safetensors'), 'lm']),
    /^artifact/,
  ],
  [
    'ViT-L/16 + RoBERTa-large: compile an inference artifact',
    cli(['compile', large, '--out', join(work, 'build', 'roberta-large'), '--mode', 'infer', '--batch', '4']),
    /^infer/,
  ],
  [
    'ViT-L/16 + RoBERTa-large: explain the training step',
    cli(['explain', large, '--batch', '4']),
    /^(fuse|memory|dispatch|cache) /,
  ],
];
console.log(
  `# The seeds' settings at real size through the CLI (${new Date().toISOString().slice(0, 10)})\n\nCommand: \`npx tsx bench/seed-commands.ts\` (random-weight towers under ${o.cache}/seed, specs and data under ${o.cache}/seed/commands). Default adapter limits (doctor: maxStorageBufferBindingSize 128 MiB).\n`,
);
console.log('| step | exit | seconds | output |\n| --- | --- | --- | --- |');
for (const [title, cmd, keep] of steps) {
  const t0 = performance.now();
  const r = spawnSync(cmd[0], cmd.slice(1), { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  const lines = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => keep.test(l) || (r.status !== 0 && l.startsWith('peftgraph')));
  console.log(
    `| ${title} | ${r.status} | ${secs} | ${lines.map((l) => l.replaceAll('|', '\\|').replaceAll(root, '…')).join('<br>')} |`,
  );
}
