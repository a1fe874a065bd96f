/**
 * The register-blocked matmul variants on the shapes a training step really has: every distinct
 * matmul (M, K, N, transposes, batch) of the example's towers finetuned fully (batch 16), each
 * variant timed alone with the candidates alternating in one run, min of --rounds (this machine's
 * speed swings; the min is the steady figure). Which tile is best at which shape decides
 * defaultMatmulVariant (src/compiler/plan.ts).
 *   npx tsx bench/matmul-shapes.ts [--rounds 8] [--batch 16]
 */
import { parseArgs } from 'node:util';
import { Builder } from '../src/compiler/builder.ts';
import { variantLabel, type MatmulVariant } from '../src/compiler/codegen/kernels.ts';
import { compile } from '../src/compiler/compile.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { compilePlan } from '../src/compiler/plan.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { repsFor, timeRecorded } from '../src/runtime/timing.ts';
import model from '../examples/mnist-vqa.spec.ts';
import { fullFinetuning } from './full-finetuning.ts';
import { numberFlag } from './flags.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '8' }, batch: { type: 'string', default: '16' } },
});
const rounds = numberFlag('matmul-shapes', 'rounds', values.rounds!, { integer: true, min: 1 });
const batch = numberFlag('matmul-shapes', 'batch', values.batch!, { integer: true, min: 1 });
const gpu = await acquireDevice();
const profile = profileOf(gpu);
const CANDIDATES: MatmulVariant[] = [
  { family: 'reg', tm: 8, tn: 4, wgx: 8, wgy: 8 },
  { family: 'reg', tm: 8, tn: 8, wgx: 8, wgy: 8 },
  { family: 'reg', tm: 4, tn: 4, wgx: 8, wgy: 8 },
  { family: 'reg', tm: 4, tn: 8, wgx: 8, wgy: 8 },
];
const fwd = lowerModel(fullFinetuning(model.spec), { batch, mode: 'train' }).graph;
const { plan } = compile(fwd, { batch, mode: 'train', profile });
const shapes = new Map<
  string,
  { M: number; K: number; N: number; batch: number[]; tA: boolean; tB: boolean; count: number }
>();
for (const k of plan.kernels) {
  const ir = k.ir;
  if (ir?.kind !== 'matmul') continue;
  const key = `${ir.M}x${ir.K}x${ir.N}${ir.batch.length ? ` b[${ir.batch}]` : ''}${ir.a.trans ? ' tA' : ''}${ir.b.trans ? ' tB' : ''}`;
  const s = shapes.get(key);
  if (s) s.count++;
  else shapes.set(key, { M: ir.M, K: ir.K, N: ir.N, batch: ir.batch, tA: ir.a.trans, tB: ir.b.trans, count: 1 });
}

console.log(
  `adapter: ${gpu.info.description}; the ${shapes.size} matmul shapes of the full-finetuning step (batch ${batch}), GFLOP/s (min of ${values.rounds})`,
);
console.log(`| shape (M x K x N) | in step | ${CANDIDATES.map(variantLabel).join(' | ')} | default |`);
console.log(`| --- | --- | ${CANDIDATES.map(() => '---').join(' | ')} | --- |`);
for (const [key, s] of shapes) {
  const exs: Executor[] = [];
  for (const v of CANDIDATES) {
    const b = new Builder();
    const lead = s.batch;
    const a = b.input('a', [...lead, ...(s.tA ? [s.K, s.M] : [s.M, s.K])]);
    const w = b.input('b', [...lead, ...(s.tB ? [s.N, s.K] : [s.K, s.N])]);
    b.output('y', a.matmul(w, { transA: s.tA, transB: s.tB }));
    exs.push(await Executor.create(gpu, compilePlan(b.g, profile, { matmulVariant: () => v })));
  }
  const times = exs.map(() => [] as number[]);
  const reps: number[] = [];
  for (const ex of exs) reps.push(await repsFor(gpu, (s) => ex.recordKernel(s, 0), 20));
  for (let r = 0; r < rounds; r++)
    for (const [i, ex] of exs.entries()) times[i].push(await timeRecorded(gpu, (s) => ex.recordKernel(s, 0), reps[i]));
  const flops = 2 * s.M * s.K * s.N * s.batch.reduce((p, q) => p * q, 1);
  const rates = times.map((t) => flops / Math.min(...t) / 1e6);
  const best = rates.indexOf(Math.max(...rates));
  const b = new Builder();
  b.output(
    'y',
    b
      .input('a', [...s.batch, ...(s.tA ? [s.K, s.M] : [s.M, s.K])])
      .matmul(b.input('b', [...s.batch, ...(s.tB ? [s.N, s.K] : [s.K, s.N])]), { transA: s.tA, transB: s.tB }),
  );
  const dflt = compilePlan(b.g, profile).kernels[0].variant;
  const name = (v?: MatmulVariant) => (v ? variantLabel(v) : 'none');
  console.log(
    `| ${key} | ${s.count} | ${rates.map((r, i) => (i === best ? `**${r.toFixed(1)}**` : r.toFixed(1))).join(' | ')} | ${name(dflt)} |`,
  );
  for (const ex of exs) ex.destroy();
}
process.exit(0);
