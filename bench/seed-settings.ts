/**
 * The seeds' own settings at base size, peftgraph beside PyTorch CPU, in one run (issue 29):
 * - routing, VQA: ViT-B/16 + RoBERTa-base, LoRA r = alpha = 128 with inner routing on q and v,
 *   the VQA head (d -> 2d -> LN -> gelu -> 3,129 answers, BCE);
 * - routing, captioning: ViT-B/16 + GPT-2 small, the same routed LoRA, next-token loss (tied head
 *   over the 50,257-entry vocabulary, bound in two ranges under a 128 MiB binding limit);
 * - MixPHM, VL-T5-like: ViT-B/16 region tokens (7 x 7 patch-grid means, VL-T5's visual embedding)
 *   + T5-base with MixPHM after every FFN of both stacks and its regularizer, teacher-forced LM.
 * Random weights in HF layout (bench/hf-random.ts). For each: compile time, kernels, device memory
 * with frozen weights in f32 and in bf16, and first and later step times at batch 4 (the whole
 * model every step, the frozen vision tower included, as HF PEFT runs it); then the same model's
 * step in PyTorch (bench/seed_settings_torch.py: torch.nn from the HF modeling semantics, frozen
 * weights requires_grad=False, the vision tower under no_grad, 2 threads).
 *   npx tsx bench/seed-settings.ts [--settings roberta,gpt2,t5] [--steps 3] [--batch 4] [--python /usr/bin/python3]
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { COUNT, numberFlag } from './flags.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { paramReport } from '../src/compiler/params-report.ts';
import type { FrozenWeights, Plan } from '../src/compiler/plan.ts';
import { peft, vl } from '../src/dsl/index.ts';
import { hf } from '../src/hf/towers.ts';
import type { ModelSpec } from '../src/dsl/spec.ts';
import { pretrainedWeights } from '../src/hf/import.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { initialWeights, prng } from '../src/runtime/init.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { median } from '../src/runtime/timing.ts';
import { compileStep, TrainStep } from '../src/train/train-step.ts';
import { ensureTower } from './hf-random.ts';
import { stopwatch } from './stopwatch.ts';

const { values: o } = parseArgs({
  options: {
    settings: { type: 'string', default: 'roberta,gpt2,t5' },
    steps: { type: 'string', default: '3' },
    batch: { type: 'string', default: '4' },
    python: { type: 'string', default: '/usr/bin/python3' },
    cache: { type: 'string', default: '.bench-cache' },
  },
});
const [steps, B] = (['steps', 'batch'] as const).map((f) => numberFlag('seed-settings', f, o[f]!, COUNT));
const L = 32;
const root = join(o.cache!, 'seed');
const vit = () => hf.vision(ensureTower(root, 'vit-base-patch16-224').dir);
const lora = peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 128, alpha: 128, routing: 'inner' });

const SETTINGS: Record<string, { title: string; spec: () => ModelSpec }> = {
  roberta: {
    title: 'routing, VQA: ViT-B/16 + RoBERTa-base, routed LoRA (inner, q v, r = alpha = 128), VQA head',
    spec: () =>
      vl
        .model({
          vision: vit(),
          text: hf.text(ensureTower(root, 'roberta-base').dir, { maxLen: L }),
          visualPrefix: 'pooled',
          head: vl.classifier({ answers: 3129 }),
        })
        .freeze('**')
        .insert(lora).spec as ModelSpec,
  },
  gpt2: {
    title: 'routing, captioning: ViT-B/16 + GPT-2 small, routed LoRA (inner, q v, r = alpha = 128), next-token loss',
    spec: () =>
      vl
        .model({
          vision: vit(),
          text: hf.text(ensureTower(root, 'gpt2').dir, { maxLen: L }),
          visualPrefix: 'pooled',
          head: vl.lm(),
        })
        .freeze('**')
        .insert(lora).spec as ModelSpec,
  },
  t5: {
    title:
      'MixPHM, VL-T5-like: ViT-B/16 7 x 7 region tokens (VL-T5 visual embedding) + T5-base, MixPHM after every FFN (+ regularizer), teacher-forced LM',
    spec: () =>
      vl
        .model({
          vision: vit(),
          text: hf.text(ensureTower(root, 't5-base').dir, { maxLen: L, targetLen: 8 }),
          visualPrefix: 'regions',
          visualRegions: [7, 7],
          visualEmbed: true,
          head: vl.lm(),
        })
        .freeze('**')
        .insert(
          peft.mixphm({
            at: ['encoder.layers.*.ffn', 'decoder.layers.*.ffn'],
            experts: 4,
            reduction: 12,
            kron: 4,
            rank: 8,
          }),
        )
        .regularize({ red: 0.1, rel: 0.02 }).spec as ModelSpec,
  },
};

const mib = (b: number) => (b / 2 ** 20).toFixed(0);
const deviceBytes = (plan: Plan) => plan.buffers.filter((b) => !b.view).reduce((s, b) => s + b.bytes, 0);
const optimizer = { kind: 'adamw' as const, weightDecay: 0.01, clip: 5, eps: 1e-6 };

/** A batch of the model's inputs: random pixels, token ids and masks (3/4 of the tokens real), labels. */
function batchFor(graph: ReturnType<typeof lowerModel>['graph'], vocab: number): Record<string, ArrayLike<number>> {
  const r = prng(3);
  const out: Record<string, ArrayLike<number>> = {};
  for (const [k, n] of graph.inputs()) {
    const size = n.shape.reduce((a, b) => a * b, 1);
    const len = n.shape.at(-1)!;
    if (k === 'image') out[k] = Float32Array.from({ length: size }, () => r() * 2 - 1);
    else if (n.dtype === 'i32')
      out[k] = Int32Array.from({ length: size }, () => 4 + Math.floor(r() * Math.min(246, vocab - 4)));
    else if (k.toLowerCase().includes('mask'))
      out[k] = Float32Array.from({ length: size }, (_, i) => (i % len < Math.ceil((len * 3) / 4) ? 1 : 0));
    else if (k === 'targets') out[k] = Float32Array.from({ length: size }, (_, i) => (i % len === 7 ? 1 : 0));
  }
  return out;
}

const gpu = await acquireDevice();
const profile = profileOf(gpu);
const torchVersion = execFileSync(o.python!, ['-c', 'import torch; print(torch.__version__)'], {
  encoding: 'utf8',
}).trim();
console.log(
  `# The seeds' settings at base size, peftgraph beside PyTorch CPU (${new Date().toISOString().slice(0, 10)})\n`,
);
console.log(
  `Command: \`npx tsx bench/seed-settings.ts --settings ${o.settings} --steps ${steps} --batch ${B}\`. peftgraph on ${gpu.info.description}${gpu.info.isSoftware ? ' (software, 2 CPU cores)' : ''}; PyTorch ${torchVersion} on the same CPU, 2 threads, run right after each setting's peftgraph steps. Batch ${B}, ${L} text tokens (3/4 real), random weights in HF layout.\n`,
);
const table: string[] = [];
for (const name of o.settings!.split(',')) {
  const { title, spec: make } = SETTINGS[name];
  const spec = make();
  const lap = stopwatch();
  const { graph } = lowerModel(spec, { batch: B, mode: 'train' });
  const tLower = lap();
  const cfg = { optimizer, lr: 1e-4, schedule: { kind: 'constant' as const }, totalSteps: 1000 };
  const f32Plan = compileStep(graph, profile, cfg).plan;
  const tCompile = lap();
  const bf16Plan = compileStep(graph, profile, { ...cfg, plan: { frozenWeights: 'bf16' as FrozenWeights } }).plan;
  lap();
  const rep = paramReport(graph);
  const { weights } = pretrainedWeights(spec, graph);
  const all = initialWeights(graph, 1, weights);
  const text = spec.text!;
  const batch = batchFor(graph, text.vocab);
  const times: Record<string, number[]> = {};
  for (const dtype of ['f32', 'bf16'] as FrozenWeights[]) {
    const ts = await TrainStep.compile(gpu, graph, { ...cfg, plan: { frozenWeights: dtype } });
    ts.setWeights(all);
    times[dtype] = [];
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      await ts.submit(batch, s + 1);
      times[dtype].push((performance.now() - t0) / 1000);
    }
    ts.destroy();
  }
  const torch = JSON.parse(
    execFileSync(
      o.python!,
      [
        join(import.meta.dirname, 'seed_settings_torch.py'),
        '--setting',
        name,
        '--batch',
        String(B),
        '--steps',
        String(steps),
        '--len',
        String(L),
      ],
      { encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .pop()!,
  );
  const ours = median(times.f32.slice(1));
  const theirs = median(torch.later);
  console.log(`## ${name}: ${title}\n`);
  console.log('| measure | peftgraph | PyTorch |');
  console.log('| --- | --- | --- |');
  console.log(
    `| params (trainable) | ${rep.total.toLocaleString('en-US')} (${rep.trainable.toLocaleString('en-US')}) | ${torch.total.toLocaleString('en-US')} (${torch.trainable.toLocaleString('en-US')}) |`,
  );
  console.log(
    `| lower + compile the step (autodiff, optimizer, simplify, fuse, plan) | ${tLower.toFixed(1)} + ${tCompile.toFixed(1)} s | - |`,
  );
  console.log(`| kernels (dispatches per step) | ${f32Plan.kernels.length} | - |`);
  console.log(
    `| device memory, frozen weights f32 / bf16 | ${mib(deviceBytes(f32Plan))} / ${mib(deviceBytes(bf16Plan))} MiB | - |`,
  );
  console.log(
    `| first step (peftgraph: includes llvmpipe's shader compilation) | ${times.f32[0].toFixed(1)} s | ${torch.first.toFixed(1)} s |`,
  );
  console.log(`| later steps, median of ${steps - 1}, frozen f32 | ${ours.toFixed(2)} s | ${theirs.toFixed(2)} s |`);
  console.log(`| later steps, median of ${steps - 1}, frozen bf16 | ${median(times.bf16.slice(1)).toFixed(2)} s | - |`);
  console.log(`| PyTorch time / peftgraph time | ${(theirs / ours).toFixed(2)}x | |\n`);
  table.push(
    `| ${name} | ${tCompile.toFixed(1)} s | ${f32Plan.kernels.length} | ${mib(deviceBytes(f32Plan))} / ${mib(deviceBytes(bf16Plan))} | ${times.f32[0].toFixed(1)} / ${ours.toFixed(2)} | ${median(times.bf16.slice(1)).toFixed(2)} | ${torch.first.toFixed(1)} / ${theirs.toFixed(2)} | ${(theirs / ours).toFixed(2)}x |`,
  );
}
console.log('## Summary\n');
console.log(
  '| setting | compile | kernels | device MiB f32 / bf16 | peftgraph first / later step s | bf16 later s | PyTorch first / later s | PyTorch / peftgraph |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of table) console.log(row);
gpu.destroy();
