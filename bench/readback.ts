/**
 * Reading a training step's weights and optimizer state back (what every checkpoint save does):
 * one submission per tensor (readSlot in a loop, the old readSlots) against one submission for
 * all of them (readSlots), in alternating rounds in one run, on the MNIST-VQA model fully
 * finetuned (every param trainable: the most tensors). Results must be equal bit for bit.
 *   npx tsx bench/readback.ts [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { peft } from '../src/dsl/index.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import type { Executor } from '../src/runtime/executor.ts';
import { initialWeights } from '../src/runtime/init.ts';
import { TrainStep } from '../src/train/train-step.ts';
import { DEFAULT_OPTIMIZER } from '../src/compiler/compile.ts';
import { backbone } from './vqa/model.ts';
import { median } from '../src/runtime/timing.ts';
import { numberFlag } from './flags.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = numberFlag('readback', 'rounds', values.rounds!, { integer: true, min: 1 });
const spec = backbone('hf').insert(peft.full()).spec;
const { graph } = lowerModel(spec, { batch: 16, mode: 'train' });
const gpu = await acquireDevice();
const ts = await TrainStep.compile(gpu, graph, {
  optimizer: DEFAULT_OPTIMIZER,
  lr: 1e-3,
  schedule: { kind: 'constant' },
  totalSteps: 10,
});
ts.setWeights(initialWeights(graph, 1));
const ex = (ts as unknown as { ex: Executor }).ex;
const params = Object.keys(ts.plan.params);
const state = ts.info.packs.flatMap((p) => p.state);
const values_ = params.reduce((s, n) => s + ts.plan.params[n].shape.reduce((a, b) => a * b, 1), 0);
console.log(`adapter: ${gpu.info.description}`);
console.log(
  `model: MNIST-VQA hf backbone, full finetuning: ${params.length} params + ${state.length} state tensors, packed (${((values_ * 3 * 4) / 2 ** 20).toFixed(1)} MiB)`,
);

async function oneByOne(): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const n of params) out[n] = (await ex.readSlot('params', n)) as Float32Array;
  for (const n of state) out[n] = (await ex.readSlot('inputs', n)) as Float32Array;
  return out;
}
async function batched(): Promise<Record<string, Float32Array>> {
  return { ...(await ex.readSlots('params', params)), ...(await ex.readSlots('inputs', state)) };
}

const times: Record<string, number[]> = { 'one submit per tensor': [], 'one submit for all': [] };
let a: Record<string, Float32Array> = {};
let b: Record<string, Float32Array> = {};
for (let r = 0; r < rounds; r++) {
  let t = performance.now();
  a = await oneByOne();
  times['one submit per tensor'].push(performance.now() - t);
  t = performance.now();
  b = await batched();
  times['one submit for all'].push(performance.now() - t);
}
for (const k of Object.keys(a))
  if (Buffer.compare(Buffer.from(a[k].buffer), Buffer.from(b[k].buffer)) !== 0)
    throw new Error(`readback differs for ${k}`);
const base = median(times['one submit per tensor']);
console.log('| read-back | median ms | ratio |');
console.log('| --- | --- | --- |');
for (const [k, x] of Object.entries(times))
  console.log(`| ${k} | ${median(x).toFixed(1)} | ${(base / median(x)).toFixed(2)}x |`);
ts.destroy();
gpu.destroy();
