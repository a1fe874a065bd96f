/**
 * Pretrained towers at base size (issue 13), on whatever adapter runs it:
 * 1. importing a ViT-B/16-sized checkpoint (random weights, ~86M params): time and peak RSS of
 *    peftgraph's tensor-by-tensor import against reading the whole file first, each in fresh
 *    processes, alternating;
 * 2. a VL model from two base-size directories (ViT-B/16 at 224 + BERT-base, random weights)
 *    with MixPHM on the text FFNs (METHODS.md's sizes) and the VQA head: compile time, kernels,
 *    the memory plan's peak, and the training step's time.
 *   npx tsx bench/pretrained.ts [--cache .bench-cache] [--batch 2] [--len 16] [--steps 3] [--rounds 3]
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { COUNT, numberFlag } from './flags.ts';
import { join } from 'node:path';
import { peft, vl } from '../src/dsl/index.ts';
import { hf } from '../src/hf/towers.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { paramReport } from '../src/compiler/params-report.ts';
import { pretrainedWeights } from '../src/hf/import.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { TrainStep } from '../src/train/train-step.ts';
import { initialWeights } from '../src/runtime/init.ts';
import { prng } from '../src/runtime/init.ts';
import { ensureBaseCheckpoints } from './hf-random.ts';
import { median } from '../src/runtime/timing.ts';
import { stopwatch } from './stopwatch.ts';

const { values: o } = parseArgs({
  options: {
    cache: { type: 'string', default: '.bench-cache' },
    batch: { type: 'string', default: '2' },
    len: { type: 'string', default: '16' },
    steps: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
  },
});
const [B, L, steps, rounds] = (['batch', 'len', 'steps', 'rounds'] as const).map((f) =>
  numberFlag('pretrained', f, o[f]!, COUNT),
);
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

const ck = ensureBaseCheckpoints(join(o.cache!, 'pretrained'));
console.log(
  `checkpoints (random weights, HF layout): ViT-B/16 ${ck.vitParams.toLocaleString('en-US')} params, BERT-base ${ck.bertParams.toLocaleString('en-US')} params, under ${o.cache}/pretrained`,
);

// ---- 1. load time and peak RSS, fresh processes, alternating
const load: Record<string, { s: number[]; extra: number[]; values: number }> = {
  streamed: { s: [], extra: [], values: 0 },
  whole: { s: [], extra: [], values: 0 },
};
for (let r = 0; r < rounds; r++) {
  for (const mode of r % 2 ? ['whole', 'streamed'] : ['streamed', 'whole']) {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'pretrained-load.ts'), mode, ck.vit],
      { encoding: 'utf8' },
    );
    const j = JSON.parse(out.trim().split('\n').pop()!);
    load[mode].s.push(j.seconds);
    load[mode].extra.push(j.peak - j.rssBefore);
    load[mode].values = j.values;
  }
}
const weightBytes = load.streamed.values * 4;
console.log(
  `\n## Import of a ViT-B/16-sized checkpoint (${mib(weightBytes)} MiB of f32 weights), median of ${rounds} fresh processes each\n`,
);
console.log('| import | seconds | peak RSS above the process baseline (MiB) | peak / weights |');
console.log('| --- | --- | --- | --- |');
for (const [mode, v] of Object.entries(load)) {
  console.log(
    `| ${mode === 'streamed' ? "peftgraph's importer (tensor by tensor)" : 'whole file read, then tensors copied out'} | ${median(v.s).toFixed(2)} | ${mib(median(v.extra))} | ${(median(v.extra) / weightBytes).toFixed(2)}x |`,
  );
}

// ---- 2. a base-size VL model: compile, import, step
const spec = vl
  .model({
    vision: hf.vision(ck.vit),
    text: hf.text(ck.bert, { maxLen: L }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: 3129 }),
  })
  .freeze('**')
  .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 4, reduction: 12, kron: 4, rank: 8 }))
  .regularize({ red: 0.1, rel: 0.02 }).spec;
const gpu = await acquireDevice();
console.log(
  `\n## ViT-B/16 (224) + BERT-base, MixPHM on the text FFNs, batch ${B}, ${L} text tokens\n\nadapter: ${gpu.info.description}${gpu.info.isSoftware ? ' (software)' : ''}\n`,
);
const lap = stopwatch();
const { graph } = lowerModel(spec, { batch: B, mode: 'train' });
const tLower = lap();
const ts = await TrainStep.compile(gpu, graph, {
  optimizer: { kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 },
  lr: 5e-3,
  schedule: { kind: 'constant' },
  totalSteps: 1000,
});
const tCompile = lap();
const { weights, seconds: tImport } = pretrainedWeights(spec, graph);
ts.setWeights(initialWeights(graph, 1, weights));
const tUpload = lap() - tImport;
const rep = paramReport(graph);
const plan = ts.plan;
const paramBytes = Object.values(plan.params).reduce(
  (a, p) => a + 4 * p.shape.reduce((x: number, y: number) => x * y, 1),
  0,
);
const r = prng(3);
const image = new Float32Array(B * 3 * 224 * 224).map(() => r());
const tokens = new Int32Array(B * L).map(() => Math.floor(r() * 30522));
const mask = new Float32Array(B * L).fill(1);
const targets = new Float32Array(B * 3129).map(() => (r() < 0.002 ? 1 : 0));
const times: number[] = [];
const losses: number[] = [];
for (let s = 0; s <= steps; s++) {
  const t0 = performance.now();
  const res = await ts.submit({ image, tokens, mask, targets }, s + 1);
  times.push((performance.now() - t0) / 1000);
  losses.push(res.losses.loss);
}
ts.destroy();
gpu.destroy();
console.log('| measure | value |');
console.log('| --- | --- |');
console.log(
  `| params | ${rep.total.toLocaleString('en-US')} (backbone ${rep.byGroup.backbone.total.toLocaleString('en-US')}, head ${rep.byGroup.head.total.toLocaleString('en-US')}, MixPHM ${rep.byGroup.mixphm.total.toLocaleString('en-US')}); trainable ${rep.trainable.toLocaleString('en-US')} (${rep.percent.toFixed(2)}%) |`,
);
console.log(`| lower to IR | ${tLower.toFixed(1)} s, ${graph.nodes.length.toLocaleString('en-US')} nodes |`);
console.log(`| compile (autodiff, optimizer, simplify, fuse, plan, pipelines) | ${tCompile.toFixed(1)} s |`);
console.log(`| kernels (dispatches per step) | ${plan.kernels.length} |`);
const temps = plan.buffers.filter((b) => b.role === 'temp').reduce((a, b) => a + b.bytes, 0);
console.log(
  `| memory plan peak: every device buffer (with reuse / without) | ${mib(plan.stats.peakBytes)} / ${mib(plan.stats.peakBytesNoReuse)} MiB |`,
);
console.log(
  `| of which weights / temporaries (activations, gradients, optimizer updates) | ${mib(paramBytes)} / ${mib(temps)} MiB |`,
);
console.log(
  `| import both towers (${Object.keys(weights).length} tensors) / upload | ${tImport.toFixed(1)} s / ${tUpload.toFixed(1)} s |`,
);
console.log(`| first step (includes shader compilation) | ${times[0].toFixed(1)} s |`);
console.log(
  `| later steps, median of ${steps} | ${median(times.slice(1)).toFixed(2)} s (${(B / median(times.slice(1))).toFixed(2)} examples/s) |`,
);
console.log(`| losses | ${losses.map((x) => x.toFixed(3)).join(', ')} |`);
