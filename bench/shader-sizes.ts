/**
 * Sizes through a uniform (one shader per kernel structure) vs sizes as literals (one shader
 * per shape): distinct shaders, the time to create the plans' pipelines and to run them once (llvmpipe compiles a
 * shader on its first use; the evaluation plan reuses the training plan's shaders where they
 * are the same), and the step time, for
 * the two plans of `npm run example` (training step and evaluation, batch 16). Step times are
 * measured in alternating rounds in one run; weights and inputs are zeros (time does not
 * depend on them). For cold pipeline creation, disable Mesa's shader cache:
 *   MESA_SHADER_CACHE_DISABLE=true npx tsx bench/shader-sizes.ts [--rounds 6]
 */
import { parseArgs } from 'node:util';
import { compile } from '../src/compiler/compile.ts';
import type { SizeMode } from '../src/compiler/codegen/wgsl.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { median, timePlan, timeRun } from '../src/runtime/timing.ts';
import model from '../examples/mnist-vqa.spec.ts';
import { numberFlag } from './flags.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' } } });
const gpu = await acquireDevice();
const profile = profileOf(gpu);
console.log(
  `adapter: ${gpu.info.description}; Mesa shader cache ${process.env.MESA_SHADER_CACHE_DISABLE === 'true' ? 'disabled (cold)' : 'enabled'}`,
);

const runs = [];
for (const mode of ['train', 'infer'] as const) {
  for (const sizes of ['inline', 'uniform'] as SizeMode[]) {
    const plan = compile(model.spec, { batch: 16, mode, loss: true, profile, plan: { sizes } }).plan;
    const t0 = performance.now();
    const ex = await Executor.create(gpu, plan);
    const createMs = performance.now() - t0;
    // llvmpipe compiles a pipeline's shader on its first dispatch: the first run pays for them.
    const firstMs = await timeRun(gpu, ex);
    runs.push({
      name: `${mode === 'train' ? 'train step' : 'eval'}, sizes ${sizes}`,
      plan,
      ex,
      createMs,
      firstMs,
      shaders: new Set(plan.kernels.map((k) => k.wgsl)).size,
      times: [] as number[],
    });
  }
}
const rounds = numberFlag('shader-sizes', 'rounds', values.rounds!, { integer: true, min: 1 });
for (let round = 0; round < rounds; round++)
  for (const r of round % 2 ? [...runs].reverse() : runs) r.times.push(await timePlan(gpu, r.ex, 2, 3));
console.log(
  '| plan | kernels | distinct shaders | pipelines created, s | first run, s | ms per run | time vs inline |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (let i = 0; i < runs.length; i++) {
  const r = runs[i];
  const base = runs[i - (i % 2)];
  console.log(
    `| ${r.name} | ${r.plan.kernels.length} | ${r.shaders} | ${(r.createMs / 1000).toFixed(1)} | ${(r.firstMs / 1000).toFixed(1)} | ${median(r.times).toFixed(1)} | ${(median(r.times) / median(base.times)).toFixed(2)}x |`,
  );
  r.ex.destroy();
}
gpu.destroy();
