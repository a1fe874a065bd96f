import { parseArgs } from 'node:util';
import { compile } from '../src/compiler/compile.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import type { ModelSpec } from '../src/dsl/spec.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { timePlan } from '../src/runtime/timing.ts';
import model from '../examples/mnist-vqa.spec.ts';
import { fullFinetuning } from './full-finetuning.ts';
import { baseRoutedLora } from './base-routed.ts';
import { vlT5 } from './vqa/model.ts';
import { numberFlag } from './flags.ts';

const { values: o } = parseArgs({
  options: {
    settings: { type: 'string', default: 'full,base,vlt5' },
    rounds: { type: 'string', default: '5' },
    cache: { type: 'string', default: '.bench-cache' },
  },
});
const rounds = numberFlag('norm-steps', 'rounds', o.rounds!, { integer: true, min: 1 });
const SETTINGS: Record<string, { batch: number; spec: () => ModelSpec }> = {
  full: { batch: 32, spec: () => fullFinetuning(model.spec) },
  base: { batch: 4, spec: () => baseRoutedLora(o.cache!) },
  vlt5: { batch: 32, spec: () => fullFinetuning(vlT5().spec) as ModelSpec },
};

const gpu = await acquireDevice();
const profile = profileOf(gpu);
console.log(`adapter: ${gpu.info.description}`);
console.log('| step | batch | kernels | row kernels | ms per step (median) |');
console.log('| --- | --- | --- | --- | --- |');
for (const name of o.settings!.split(',')) {
  const s = SETTINGS[name];
  if (!s) throw new Error(`--settings: unknown '${name}' (valid: ${Object.keys(SETTINGS).join(', ')})`);
  const { plan } = compile(lowerModel(s.spec(), { batch: s.batch, mode: 'train' }).graph, {
    batch: s.batch,
    mode: 'train',
    profile,
  });
  const ex = await Executor.create(gpu, plan);
  const ms = await timePlan(gpu, ex, 1, rounds);
  const rows = plan.kernels.filter((k) => k.kind === 'row').length;
  console.log(`| ${name} | ${s.batch} | ${plan.kernels.length} | ${rows} | ${ms.toFixed(1)} |`);
  ex.destroy();
}
gpu.destroy();
process.exit(0);
