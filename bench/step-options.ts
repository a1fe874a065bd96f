/**
 * One training step planned two ways, alternating in one run: the whole step and the kernels the
 * comparison changes alone, min and median of --rounds (this machine's speed swings by 2x within seconds, so the min
 * is the steadier figure). On the example's towers finetuned fully (nothing frozen).
 *   --compare siblings: sibling map kernels on and off (PlanOptions.siblings)
 *   --compare tuned: matmul kernels from the autotuner (tuning the step's shape classes first,
 *     cache in .peftgraph-cache/) against the profile's defaults
 *   --compare tiles: the default matmul tiles against the rule before 8x8 tiles at N >= 64
 *   --compare elements: 16 elements per map thread (where the index maps allow) against 4
 *   --compare groups: workgroups of 8 for reductions and row kernels of few threads, against 64
 *   --compare packed: the default matmul tiles against the rule before 'packed' tiles (matmul-rules.ts)
 *   npx tsx bench/step-options.ts [--compare siblings|tuned|tiles|elements|groups|packed] [--rounds 20] [--batch 16]
 */
import { parseArgs } from 'node:util';
import { compile } from '../src/compiler/compile.ts';
import type { PlanOptions } from '../src/compiler/plan.ts';
import type { Node } from '../src/compiler/ir/graph.ts';
import type { MatmulVariant } from '../src/compiler/codegen/kernels.ts';
import { tunedPlanOptions } from '../src/train/autotune.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { median, timeRecorded, timeRun } from '../src/runtime/timing.ts';
import model from '../examples/mnist-vqa.spec.ts';
import { fullFinetuning } from './full-finetuning.ts';
import { beforePacked } from './matmul-rules.ts';
import { numberFlag } from './flags.ts';

const { values } = parseArgs({
  options: {
    compare: { type: 'string', default: 'siblings' },
    rounds: { type: 'string', default: '20' },
    batch: { type: 'string', default: '16' },
  },
});
const rounds = numberFlag('step-options', 'rounds', values.rounds!, { integer: true, min: 1 });
const batch = numberFlag('step-options', 'batch', values.batch!, { integer: true, min: 1 });
const gpu = await acquireDevice();
const profile = profileOf(gpu);
const fwd = lowerModel(fullFinetuning(model.spec), { batch, mode: 'train' }).graph;
const options: [string, PlanOptions][] = [];
/** The kernels the comparison changes, also timed alone. */
const part = {
  siblings: ['map'],
  tuned: ['matmul'],
  tiles: ['matmul'],
  packed: ['matmul'],
  elements: ['map'],
  groups: ['reduce', 'row'],
}[values.compare!] ?? ['map'];
if (values.compare === 'siblings') options.push(['siblings', { siblings: true }], ['no siblings', { siblings: false }]);
else if (values.compare === 'tuned') {
  const step = compile(fwd, { batch, mode: 'train', profile }).graph;
  const tuned = await tunedPlanOptions(gpu, profile, 'run', { shapes: () => step, log: (l) => console.error(l) });
  options.push(
    [`autotuned (${tuned.classes} classes, ${tuned.tuned} timed now)`, tuned.plan],
    ['profile defaults', {}],
  );
} else if (values.compare === 'tiles') {
  // The rule before 8x8 tiles at N >= 64: 8x8 only from N = 256.
  const before = (n: Node): MatmulVariant => ({
    family: 'reg',
    tm: 8,
    tn: n.shape[n.shape.length - 1] >= 256 ? 8 : 4,
    wgx: 8,
    wgy: 8,
  });
  options.push(['default tiles', {}], ['8x8 only from N = 256', { matmulVariant: before }]);
} else if (values.compare === 'packed')
  options.push(
    ['default tiles', {}],
    ['before packed tiles', { matmulVariant: (n: Node) => beforePacked(profile, n.shape) }],
  );
else if (values.compare === 'elements')
  options.push(['16 elements per map thread', { mapElements: 16 }], ['4 elements per map thread', { mapElements: 4 }]);
else if (values.compare === 'groups')
  options.push(
    ['small workgroups for few-thread reductions and rows', { smallWorkgroups: true }],
    ['workgroups of 64', { smallWorkgroups: false }],
  );
else throw new Error(`--compare ${values.compare}: valid choices are siblings, tuned, tiles, packed, elements, groups`);
const variants = options.map(([name, plan]) => {
  const compiled = compile(fwd, { batch, mode: 'train', profile, plan }).plan;
  return {
    name,
    plan: compiled,
    maps: compiled.kernels.flatMap((k, i) => (part.includes(k.kind) ? [i] : [])),
    whole: [] as number[],
    mapMs: [] as number[],
  };
});
const executors = await Promise.all(variants.map((v) => Executor.create(gpu, v.plan)));

for (const ex of executors) await timeRun(gpu, ex);
for (let r = 0; r < rounds; r++)
  for (const [j, v] of variants.entries()) {
    v.whole.push(await timeRun(gpu, executors[j]));
    v.mapMs.push(
      await timeRecorded(gpu, (s) => {
        for (const i of v.maps) executors[j].recordKernel(s, i);
      }),
    );
  }
console.log(`adapter: ${gpu.info.description}; full finetuning step, batch ${batch}, ${values.rounds} rounds`);
console.log(
  `| plan | kernels | ${part.join('+')} kernels | step min / median, ms | ${part.join('+')} kernels min / median, ms |`,
);
console.log('| --- | --- | --- | --- | --- |');
for (const v of variants)
  console.log(
    `| ${v.name} | ${v.plan.kernels.length} | ${v.maps.length} | ${Math.min(...v.whole).toFixed(1)} / ${median(v.whole).toFixed(1)} | ${Math.min(...v.mapMs).toFixed(1)} / ${median(v.mapMs).toFixed(1)} |`,
  );
process.exit(0);
