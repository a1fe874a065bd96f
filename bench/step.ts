/**
 * One training step's forward+backward (LoRA on a small transformer) compiled three ways:
 * op-by-op (one kernel per primitive), fused, fused + autotuned matmuls, and fused with f16
 * storage of activations (where the adapter has shader-f16). Reports kernels
 * (= dispatches, all in one command buffer) and wall time per step, measured in alternating
 * rounds in one run.
 *   npx tsx bench/step.ts [--d 64] [--L 16] [--B 8] [--layers 2]
 */
import { parseArgs } from 'node:util';
import { COUNT, numberFlag } from './flags.ts';
import { autodiff } from '../src/compiler/autodiff.ts';
import { simplify } from '../src/compiler/passes/simplify.ts';
import { compilePlan, type PlanOptions } from '../src/compiler/plan.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { median, timePlan } from '../src/runtime/timing.ts';
import { autotune } from '../src/train/autotune.ts';
import { tinyFeeds, tinyTransformer } from '../test/helpers/tiny-transformer.ts';

const { values } = parseArgs({
  options: {
    d: { type: 'string', default: '64' },
    L: { type: 'string', default: '16' },
    B: { type: 'string', default: '8' },
    layers: { type: 'string', default: '2' },
  },
});
const [d, L, B, layers] = (['d', 'L', 'B', 'layers'] as const).map((f) => numberFlag('step', f, values[f]!, COUNT));
const { graph } = tinyTransformer({
  layers,
  d,
  L,
  B,
  heads: 4,
  loraLayers: [...Array(layers).keys()],
  loraRank: 8,
  vocab: 64,
  classes: 10,
});
const { graph: joint, report } = autodiff(graph, { loss: 'loss' });
const { graph: g } = simplify(joint);
const gpu = await acquireDevice();
const profile = profileOf(gpu);
console.log(`adapter: ${gpu.info.description}`);
console.log(
  `model: ${layers} layers, d=${d}, L=${L}, B=${B}, LoRA r=8 on q,v; graph: ${report.forwardNodes} forward + ${report.backwardNodes} backward nodes, ${report.prunedNodes} pruned; ${g.nodes.length} after simplify`,
);
const tuned = await autotune(gpu, profile, g);
const configs: [string, PlanOptions][] = [
  ['op-by-op', { fuse: false, halfActivations: false }],
  ['fused', { fuse: true, halfActivations: false }],
  ['fused+autotuned', { fuse: true, halfActivations: false, matmulVariant: (n) => tuned.choice.get(n.id) }],
  ['fused+f16 activations', { fuse: true, halfActivations: true }],
];
const feeds = tinyFeeds(graph);
const runs = [];
for (const [name, opts] of configs) {
  const plan = compilePlan(g, profile, opts);
  const ex = await Executor.create(gpu, plan);
  for (const [k, v] of Object.entries(feeds.params)) if (plan.params[k]) ex.setParam(k, v.data);
  for (const [k, v] of Object.entries(feeds.inputs)) if (plan.inputs[k]) ex.setInput(k, v.data);
  runs.push({ name, plan, ex, times: [] as number[] });
}
for (let round = 0; round < 4; round++)
  for (const r of round % 2 ? [...runs].reverse() : runs) r.times.push(await timePlan(gpu, r.ex, 2, 3));
const base = median(runs[0].times);
console.log('| plan | kernels (dispatches) | peak MiB (reuse / none) | ms per step | speed-up vs op-by-op |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of runs) {
  const ms = median(r.times);
  const mib = (x: number) => (x / 2 ** 20).toFixed(2);
  console.log(
    `| ${r.name} | ${r.plan.kernels.length} | ${mib(r.plan.stats.peakBytes)} / ${mib(r.plan.stats.peakBytesNoReuse)} | ${ms.toFixed(1)} | ${(base / ms).toFixed(2)}x |`,
  );
  r.ex.destroy();
}
gpu.destroy();
