/**
 * Where a training step's time goes, kernel by kernel: each kernel of the step is recorded
 * enough times for one submission of 20 ms (timing.ts repsFor) and timed on its own (median of
 * rounds), then grouped by kind
 * (matmuls by transposition, with their GFLOP/s). Full finetuning of the example's towers by
 * default (nothing frozen), or the example's MixPHM step (`--spec example`).
 * Also the step efficiency of issue 17: matmul FLOPs / step time / the best matmul rate.
 *   npx tsx bench/kernel-profile.ts [--batch 32] [--spec full|example] [--top 15]
 */
import { parseArgs } from 'node:util';
import { Builder } from '../src/compiler/builder.ts';
import { compile } from '../src/compiler/compile.ts';
import { compilePlan } from '../src/compiler/plan.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { splitFrozen } from '../src/compiler/passes/frozen.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { median, repsFor, timeRecorded, timeRun } from '../src/runtime/timing.ts';
import model from '../examples/mnist-vqa.spec.ts';
import { fullFinetuning } from './full-finetuning.ts';
import { numberFlag } from './flags.ts';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '32' },
    spec: { type: 'string', default: 'full' },
    top: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
  },
});
const rounds = numberFlag('kernel-profile', 'rounds', values.rounds!, { integer: true, min: 1 });
const top = numberFlag('kernel-profile', 'top', values.top!, { integer: true, min: 1 });
const batch = numberFlag('kernel-profile', 'batch', values.batch!, { integer: true, min: 1 });
const gpu = await acquireDevice();
const spec = values.spec === 'full' ? fullFinetuning(model.spec) : model.spec;
const fwd = lowerModel(spec, { batch, mode: 'train' }).graph;
const split = values.spec === 'full' ? null : splitFrozen(fwd, batch);
const { plan, graph } = compile(split?.step ?? fwd, { batch, mode: 'train', profile: profileOf(gpu) });
const ex = await Executor.create(gpu, plan);

await timeRun(gpu, ex);
const whole: number[] = [];
const per: number[][] = plan.kernels.map(() => []);
// Each kernel repeated in one submission of at least 20 ms (timing.ts repsFor: waits poll at ~1 kHz).
const kernelReps: number[] = [];
for (let i = 0; i < plan.kernels.length; i++) kernelReps.push(await repsFor(gpu, (s) => ex.recordKernel(s, i), 20));
for (let r = 0; r < rounds; r++) {
  whole.push(await timeRun(gpu, ex));
  for (let i = 0; i < plan.kernels.length; i++)
    per[i].push(await timeRecorded(gpu, (s) => ex.recordKernel(s, i), kernelReps[i]));
}
const ms = per.map(median);
const flops = plan.kernels.map((k) => {
  if (k.kind !== 'matmul') return 0;
  const ir = k.ir;
  return ir?.kind === 'matmul' ? 2 * ir.M * ir.N * ir.K * ir.batch.reduce((a, b) => a * b, 1) : 0;
});
const label = (i: number) => {
  const k = plan.kernels[i];
  if (k.kind !== 'matmul' || k.ir?.kind !== 'matmul') return k.kind;
  const { a, b } = k.ir;
  return `matmul${a.trans ? ' transA' : ''}${b.trans ? ' transB' : ''}`;
};
const groups = new Map<string, { n: number; ms: number; flops: number }>();
plan.kernels.forEach((_, i) => {
  const g = groups.get(label(i)) ?? { n: 0, ms: 0, flops: 0 };
  g.n++;
  g.ms += ms[i];
  g.flops += flops[i];
  groups.set(label(i), g);
});
const total = ms.reduce((a, b) => a + b, 0);
// The step efficiency: matmul FLOPs per step / step time / the best matmul rate, the
// latter measured now (512^3, the profile's default tile), as this machine's speed drifts.
const best = await (async () => {
  const b = new Builder();
  b.output('y', b.input('a', [512, 512]).matmul(b.input('b', [512, 512])));
  const mm = await Executor.create(gpu, compilePlan(b.g, profileOf(gpu)));
  const t = [] as number[];
  const n = await repsFor(gpu, (s) => mm.recordKernel(s, 0), 20);
  for (let r = 0; r < 5; r++) t.push(await timeRecorded(gpu, (s) => mm.recordKernel(s, 0), n));
  mm.destroy();
  return (2 * 512 ** 3) / Math.min(...t) / 1e6;
})();
const stepFlops = flops.reduce((a, b) => a + b, 0);
const stepMs = median(whole);
console.log(
  `adapter: ${gpu.info.description}; ${values.spec} step, batch ${batch}: ${plan.kernels.length} kernels, ${graph.nodes.length} nodes; whole step ${median(whole).toFixed(1)} ms, kernels one by one ${total.toFixed(1)} ms`,
);
console.log(
  `step efficiency: ${(stepFlops / 1e9).toFixed(2)} GFLOP of matmuls per step / ${stepMs.toFixed(1)} ms = ${(stepFlops / stepMs / 1e6).toFixed(1)} GFLOP/s, ${((stepFlops / stepMs / 1e6 / best) * 100).toFixed(0)}% of the best matmul rate measured now (${best.toFixed(1)} GFLOP/s at 512^3)`,
);
console.log('| kernels | count | ms | share | GFLOP/s |');
console.log('| --- | --- | --- | --- | --- |');
for (const [k, g] of [...groups].sort((a, b) => b[1].ms - a[1].ms))
  console.log(
    `| ${k} | ${g.n} | ${g.ms.toFixed(1)} | ${((100 * g.ms) / total).toFixed(0)}% | ${g.flops ? (g.flops / g.ms / 1e6).toFixed(1) : ''} |`,
  );
console.log(`\nslowest kernels:`);
const order = ms.map((_, i) => i).sort((a, b) => ms[b] - ms[a]);
for (const i of order.slice(0, top)) {
  const k = plan.kernels[i];
  const shape =
    k.ir?.kind === 'matmul'
      ? ` M=${k.ir.M} N=${k.ir.N} K=${k.ir.K} batch=[${k.ir.batch}] ${JSON.stringify(k.variant)} ${(flops[i] / ms[i] / 1e6).toFixed(1)} GFLOP/s`
      : ` workgroups ${k.workgroups}`;
  console.log(`  ${ms[i].toFixed(2)} ms ${label(i)} ${k.name}${shape}`);
}
ex.destroy();
process.exit(0);
