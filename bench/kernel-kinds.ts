/**
 * A training step's kernel time by kernel kind (map, reduce, row, matmul, scatter): every kernel
 * timed alone (repeated for one submission of 20 ms, the median of 3 rounds), summed per kind, and
 * the slowest row kernels. For comparing two commits kernel by kernel (bench/results/
 * norm-rows.md); bench/kernel-profile.ts is the fuller profile of one step.
 *   npx tsx bench/kernel-kinds.ts [full|vlt5]
 * full: the example's towers fully finetuned; vlt5: the benchmark's VL-T5 fully finetuned; batch 32.
 */
import { compile } from '../src/compiler/compile.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { median, repsFor, timeRecorded, timeRun } from '../src/runtime/timing.ts';
import model from '../examples/mnist-vqa.spec.ts';
import { fullFinetuning } from './full-finetuning.ts';
import { vlT5 } from './vqa/model.ts';

const which = process.argv[2] ?? 'full';
if (which !== 'full' && which !== 'vlt5') throw new Error(`kernel-kinds: '${which}' (valid: full, vlt5)`);
const spec = which === 'vlt5' ? fullFinetuning(vlT5().spec) : fullFinetuning(model.spec);
const batch = 32;
const gpu = await acquireDevice();
const { plan } = compile(lowerModel(spec, { batch, mode: 'train' }).graph, {
  batch,
  mode: 'train',
  profile: profileOf(gpu),
});
const ex = await Executor.create(gpu, plan);
await timeRun(gpu, ex);
const per: number[][] = plan.kernels.map(() => []);
// Each kernel repeated in one submission of at least 20 ms (timing.ts repsFor: waits poll at ~1 kHz).
const reps: number[] = [];
for (let i = 0; i < plan.kernels.length; i++) reps.push(await repsFor(gpu, (s) => ex.recordKernel(s, i), 20));
for (let r = 0; r < 3; r++)
  for (let i = 0; i < plan.kernels.length; i++)
    per[i].push(await timeRecorded(gpu, (s) => ex.recordKernel(s, i), reps[i]));
const ms = per.map(median);
const kinds = new Map<string, { n: number; ms: number }>();
plan.kernels.forEach((k, i) => {
  const g = kinds.get(k.kind) ?? { n: 0, ms: 0 };
  g.n++;
  g.ms += ms[i];
  kinds.set(k.kind, g);
});
const total = ms.reduce((a, b) => a + b, 0);
console.log(`${which}: ${plan.kernels.length} kernels, ${total.toFixed(1)} ms summed`);
for (const [k, v] of kinds) console.log(`  ${k}: ${v.n} kernels, ${v.ms.toFixed(1)} ms`);
const rows = plan.kernels
  .map((k, i) => ({ k, ms: ms[i] }))
  .filter((x) => x.k.ir?.kind === 'row')
  .sort((a, b) => b.ms - a.ms)
  .slice(0, 6);
for (const { k, ms: t } of rows) {
  const ir = k.ir as Extract<NonNullable<typeof k.ir>, { kind: 'row' }>;
  console.log(`  row ${t.toFixed(2)} ms: ${ir.rows} rows of ${ir.C}, ${ir.reductions.length} reductions (${k.name})`);
}
ex.destroy();
gpu.destroy();
process.exit(0);
