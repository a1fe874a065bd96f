/**
 * The trainer's step as `train` submits it (TrainStep: inputs, the plan, updated weights made
 * current, losses read back), this tree against another checkout, alternating in one run; 4
 * steps in flight per timing as the trainer pipelines them. Unlike against-base.ts (kernels
 * only), this includes what happens around the kernels: write-back copies in a tree that has
 * them, buffer ping-pong in one that does not. Zero inputs, constant weights, a tiny learning rate.
 *   npx tsx bench/trainer-step.ts --base /tmp/pg-base [--spec full|example] [--rounds 12] [--batch 16]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { acquireDevice } from '../src/runtime/device.ts';
import { fullFinetuning } from './full-finetuning.ts';
import { numberFlag } from './flags.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    spec: { type: 'string', default: 'full' },
    rounds: { type: 'string', default: '12' },
    batch: { type: 'string', default: '16' },
  },
});
const rounds = numberFlag('trainer-step', 'rounds', values.rounds!, { integer: true, min: 1 });
if (!values.base) throw new Error('--base <dir of another checkout> is required');
const batch = numberFlag('trainer-step', 'batch', values.batch!, { integer: true, min: 1 });
const gpu = await acquireDevice();
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

async function load(label: string, dir: string) {
  const im = (p: string) => import(resolve(dir, p));
  const [{ TrainStep }, { lowerModel }, model] = await Promise.all([
    im('src/train/train-step.ts'),
    im('src/compiler/lower/index.ts'),
    im('examples/mnist-vqa.spec.ts'),
  ]);
  const spec = values.spec === 'full' ? fullFinetuning(model.default.spec) : model.default.spec;
  const forward = lowerModel(spec, { batch, mode: 'train' }).graph;
  const ts = await TrainStep.compile(gpu, forward, {
    optimizer: { kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 },
    lr: 1e-9,
    schedule: { kind: 'constant' },
    totalSteps: 1000,
  });
  type Slot = { shape: number[]; dtype: string };
  const inputs: Record<string, Float32Array | Int32Array> = {};
  for (const [k, s] of Object.entries(ts.plan.inputs as Record<string, Slot>)) {
    if (k.startsWith('opt.') || k === 'seed' || /^[muv]:/.test(k)) continue; // optimizer state stays on the device
    inputs[k] = s.dtype === 'i32' ? new Int32Array(size(s.shape)) : new Float32Array(size(s.shape));
  }
  ts.setWeights(
    Object.fromEntries(
      Object.entries(ts.plan.params as Record<string, Slot>).map(([k, s]) => [
        k,
        new Float32Array(size(s.shape)).fill(0.01),
      ]),
    ),
  );
  return { label, ts, inputs, kernels: ts.plan.kernels.length as number, times: [] as number[] };
}

const trees = [await load('base', values.base), await load('this tree', '.')];
for (const t of trees) for (let i = 0; i < 3; i++) await t.ts.submit(t.inputs, 1);
for (let r = 0; r < rounds; r++)
  for (const t of r % 2 ? [...trees].reverse() : trees) {
    const t0 = performance.now();
    await Promise.all([0, 1, 2, 3].map(() => t.ts.submit(t.inputs, 1)));
    t.times.push((performance.now() - t0) / 4);
  }
const stat = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[s.length >> 1] };
};
console.log(
  `adapter: ${gpu.info.description}; ${values.spec === 'full' ? 'full finetuning' : 'the example (MixPHM, features not cached)'}, batch ${batch}, ${values.rounds} rounds; base: ${resolve(values.base)}`,
);
console.log('| tree | kernels | ms per step, min | median | speed-up (min / median) |');
console.log('| --- | --- | --- | --- | --- |');
const base = stat(trees[0].times);
for (const t of trees) {
  const s = stat(t.times);
  console.log(
    `| ${t.label} | ${t.kernels} | ${s.min.toFixed(1)} | ${s.median.toFixed(1)} | ${(base.min / s.min).toFixed(2)}x / ${(base.median / s.median).toFixed(2)}x |`,
  );
  t.ts.destroy();
}
process.exit(0);
