/**
 * This tree against another checkout (e.g. main in a git worktree) on the plans of
 * `npm run example`: the training step and the evaluation plan (batch 16), each compiled by its
 * own tree's compiler and run by its own tree's executor on ONE device, timed in alternating
 * rounds in one run. Also: kernels, distinct shaders, and the first run of each plan
 * (llvmpipe compiles shaders on first use; run with MESA_SHADER_CACHE_DISABLE=true for cold).
 *   git worktree add /tmp/pg-base main && ln -s "$PWD/node_modules" /tmp/pg-base/
 *   (and link examples/mnist-vqa/{vit,bert,images} there if that checkout lacks them)
 *   npx tsx bench/against-base.ts --base /tmp/pg-base [--rounds 10] [--batch 16] [--steps]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { acquireDevice, type Gpu } from '../src/runtime/device.ts';
import { median, timeRun } from '../src/runtime/timing.ts';
import { fullFinetuning } from './full-finetuning.ts';
import { numberFlag } from './flags.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '16' },
    steps: { type: 'boolean', default: false },
  },
});
const rounds = numberFlag('against-base', 'rounds', values.rounds!, { integer: true, min: 1 });
if (!values.base) throw new Error('--base <dir of another checkout> is required');
const batch = numberFlag('against-base', 'batch', values.batch!, { integer: true, min: 1 });

interface Tree {
  label: string;
  compile: (spec: unknown, o: object) => { plan: { kernels: { wgsl: string }[] } };
  Executor: { create(gpu: Gpu, plan: unknown): Promise<{ record(s: unknown): void; destroy(): void }> };
  profileOf: (gpu: Gpu) => object;
  lowerModel: (spec: unknown, o: object) => { graph: { nodes: unknown[] } };
  /** The frozen-feature split train applies, where the tree has it. */
  splitFrozen?: (g: unknown, batch: number) => { step: unknown; tensors: unknown[] } | null;
  spec: { freeze: string[]; insertions: unknown[]; regularizers: unknown[] };
}

async function load(label: string, dir: string): Promise<Tree> {
  const im = (p: string) => import(resolve(dir, p));
  const [{ compile }, { Executor }, { profileOf }, { lowerModel }, model] = await Promise.all([
    im('src/compiler/compile.ts'),
    im('src/runtime/executor.ts'),
    im('src/runtime/profile.ts'),
    im('src/compiler/lower/index.ts'),
    im('examples/mnist-vqa.spec.ts'),
  ]);
  const frozen = await im('src/compiler/passes/frozen.ts').catch(() => null);
  return {
    label,
    compile,
    Executor,
    profileOf,
    lowerModel,
    splitFrozen: frozen?.splitFrozen,
    spec: model.default.spec,
  };
}

const gpu = await acquireDevice();
const trees = [await load('base', values.base), await load('this tree', '.')];
console.log(
  `adapter: ${gpu.info.description}; base: ${resolve(values.base)}; Mesa shader cache ${process.env.MESA_SHADER_CACHE_DISABLE === 'true' ? 'disabled (cold)' : 'enabled'}`,
);

/**
 * --steps: the training step each tree's `train` runs, for the example (MixPHM + routed LoRA on
 * frozen towers; this tree reads the frozen part from its per-example cache) and for full
 * finetuning of the same towers (nothing frozen, no insertions: nothing to cache). Otherwise:
 * the example's uncached training step and evaluation plan.
 */
function plans(t: Tree): { name: string; plan: { kernels: { wgsl: string }[] } }[] {
  const profile = t.profileOf(gpu);
  if (!values.steps)
    return (['train', 'infer'] as const).map((mode) => ({
      name: mode === 'train' ? 'train step' : 'eval',
      plan: t.compile(t.spec, { batch, mode, loss: true, profile }).plan,
    }));
  const full = fullFinetuning(t.spec);
  return [
    ['MixPHM step (example)', t.spec],
    ['full finetuning step', full],
  ].map(([name, spec]) => {
    const fwd = t.lowerModel(spec, { batch, mode: 'train' }).graph;
    const split = t.splitFrozen?.(fwd, batch) ?? null;
    return {
      name: `${name}${split ? `, ${split.tensors.length} tensors cached` : ''}`,
      plan: t.compile(split?.step ?? fwd, { batch, mode: 'train', profile }).plan,
    };
  });
}

const runs = [];
const perTree = trees.map(plans);
for (let i = 0; i < perTree[0].length; i++) {
  for (const [j, t] of trees.entries()) {
    const { name, plan } = perTree[j][i];
    const ex = await t.Executor.create(gpu, plan);
    // This tree's recorder records the other tree's executor too (the same WebGPU calls).
    const first = await timeRun(gpu, ex);
    runs.push({ name: `${name}, ${t.label}`, plan, ex, first, times: [] as number[] });
  }
}
for (let round = 0; round < rounds; round++)
  for (const r of round % 2 ? [...runs].reverse() : runs) r.times.push(await timeRun(gpu, r.ex, 2));
console.log('| plan | kernels | distinct shaders | first run, s | ms per run (median) | speed-up vs base |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (let i = 0; i < runs.length; i++) {
  const r = runs[i];
  const base = runs[i - (i % 2)];
  const shaders = new Set(r.plan.kernels.map((k) => k.wgsl)).size;
  console.log(
    `| ${r.name} | ${r.plan.kernels.length} | ${shaders} | ${(r.first / 1000).toFixed(1)} | ${median(r.times).toFixed(1)} | ${(median(base.times) / median(r.times)).toFixed(2)}x |`,
  );
  r.ex.destroy();
}
gpu.destroy();
