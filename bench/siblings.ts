/**
 * Sibling map kernels on and off (PlanOptions.siblings), on the example's towers finetuned fully
 * (batch 16, nothing frozen): the whole step and its map kernels alone, the two plans alternating
 * in one run; min and median of --rounds (this machine's speed swings by 2x within seconds, so
 * the min is the steadier figure).
 *   npx tsx bench/siblings.ts [--rounds 20] [--batch 16]
 */
import { parseArgs } from 'node:util';
import { compile } from '../src/compiler/compile.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { gpuWait } from '../src/runtime/gpu-wait.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { StepRecorder } from '../src/runtime/step.ts';
import { median } from '../src/runtime/timing.ts';
import model from '../examples/mnist-vqa.spec.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, batch: { type: 'string', default: '16' } } });
const batch = Number(values.batch);
const gpu = await acquireDevice();
const profile = profileOf(gpu);
const fwd = lowerModel({ ...model.spec, freeze: [], insertions: [], regularizers: [] }, { batch, mode: 'train' }).graph;
const variants = [true, false].map((siblings) => {
  const { plan } = compile(fwd, { batch, mode: 'train', profile, plan: { siblings } });
  return { name: siblings ? 'siblings' : 'no siblings', plan, maps: plan.kernels.flatMap((k, i) => (k.kind === 'map' ? [i] : [])), whole: [] as number[], mapMs: [] as number[] };
});
const executors = await Promise.all(variants.map((v) => Executor.create(gpu, v.plan)));

/** One submission of the given kernels (all of them by default); wall ms until the queue is done. */
async function time(ex: Executor, kernels?: number[]): Promise<number> {
  const s = new StepRecorder(gpu, 'bench');
  if (kernels) for (const i of kernels) ex.recordKernel(s, i);
  else ex.record(s);
  const t = performance.now();
  s.submit();
  await gpuWait(() => gpu.device.queue.onSubmittedWorkDone());
  return performance.now() - t;
}

for (const ex of executors) await time(ex);
for (let r = 0; r < Number(values.rounds); r++)
  for (const [j, v] of variants.entries()) {
    v.whole.push(await time(executors[j]));
    v.mapMs.push(await time(executors[j], v.maps));
  }
console.log(`adapter: ${gpu.info.description}; full finetuning step, batch ${batch}, ${values.rounds} rounds`);
console.log('| plan | kernels | map kernels | step min / median, ms | map kernels min / median, ms |');
console.log('| --- | --- | --- | --- | --- |');
for (const v of variants)
  console.log(
    `| ${v.name} | ${v.plan.kernels.length} | ${v.maps.length} | ${Math.min(...v.whole).toFixed(1)} / ${median(v.whole).toFixed(1)} | ${Math.min(...v.mapMs).toFixed(1)} / ${median(v.mapMs).toFixed(1)} |`,
  );
process.exit(0);
