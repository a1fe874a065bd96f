/**
 * Attention's batched blocks (the [B, heads] batches of 17x16x17 and 65x16x65 matmuls of the
 * example's towers at batch 32) under every tile the codegen has, next to 512^3, in one run:
 * whether a smaller tile fills the idle threads of these small blocks; then the same outputs as
 * one unbatched matmul, to tell the batching's cost from the shape's (bench/results/ceiling.md).
 * Each figure is the fastest of 4-5 rounds of 5 repetitions, GFLOP/s.
 *   npx tsx bench/attention-tiles.ts
 */
import { Builder } from '../src/compiler/builder.ts';
import type { MatmulVariant } from '../src/compiler/codegen/kernels.ts';
import { compilePlan } from '../src/compiler/plan.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { timeRecorded } from '../src/runtime/timing.ts';
const gpu = await acquireDevice();
const profile = profileOf(gpu);
const C: MatmulVariant[] = [
  { family: 'reg', tm: 8, tn: 8, wgx: 8, wgy: 8 },
  { family: 'reg', tm: 8, tn: 4, wgx: 8, wgy: 8 },
  { family: 'reg', tm: 4, tn: 4, wgx: 8, wgy: 8 },
  { family: 'reg', tm: 2, tn: 2, wgx: 8, wgy: 8 },
  { family: 'reg', tm: 4, tn: 2, wgx: 8, wgy: 8 },
  { family: 'tiled' },
];
const shapes = [
  { b: [32, 4], M: 17, K: 16, N: 17, tA: false, tB: true },
  { b: [32, 4], M: 17, K: 17, N: 16, tA: false, tB: false },
  { b: [32, 4], M: 17, K: 17, N: 16, tA: true, tB: false },
  { b: [32, 4], M: 65, K: 16, N: 65, tA: false, tB: true },
  { b: [32, 4], M: 65, K: 65, N: 16, tA: false, tB: false },
  { b: [32, 4], M: 65, K: 65, N: 16, tA: true, tB: false },
  { b: [], M: 512, K: 512, N: 512, tA: false, tB: false },
];
for (const s of shapes) {
  const exs: Executor[] = [];
  for (const v of C) {
    const b = new Builder();
    const a = b.input('a', [...s.b, ...(s.tA ? [s.K, s.M] : [s.M, s.K])]);
    const w = b.input('w', [...s.b, ...(s.tB ? [s.N, s.K] : [s.K, s.N])]);
    b.output('y', a.matmul(w, { transA: s.tA, transB: s.tB }));
    exs.push(await Executor.create(gpu, compilePlan(b.g, profile, { matmulVariant: () => v })));
  }
  const t = exs.map(() => Number.POSITIVE_INFINITY);
  for (const ex of exs) await timeRecorded(gpu, (r) => ex.recordKernel(r, 0), 5);
  for (let r = 0; r < 4; r++)
    for (const [i, ex] of exs.entries())
      t[i] = Math.min(t[i], await timeRecorded(gpu, (x) => ex.recordKernel(x, 0), 5));
  const fl = 2 * s.M * s.K * s.N * s.b.reduce((p, q) => p * q, 1);
  console.log(
    `[${s.b}] ${s.M}x${s.K}x${s.N}${s.tA ? ' tA' : ''}${s.tB ? ' tB' : ''}: ` +
      C.map((v, i) => `${v.family === 'reg' ? `${v.tm}x${v.tn}` : v.family} ${(fl / t[i] / 1e6).toFixed(1)}`).join(
        ' | ',
      ),
  );
  for (const ex of exs) ex.destroy();
}
// The same outputs as one unbatched matmul (the blocks' rows stacked, one B): whether the
// batching itself costs, or the shape (K = 16, a head's width) does. The plan's own variant.
for (const [M, N] of [
  [17, 17],
  [65, 65],
]) {
  const rate = async (a: number[], w: number[], flops: number) => {
    const b = new Builder();
    b.output('y', b.input('a', a).matmul(b.input('w', w), { transB: true }));
    const ex = await Executor.create(gpu, compilePlan(b.g, profile));
    await timeRecorded(gpu, (r) => ex.recordKernel(r, 0), 5);
    let t = Number.POSITIVE_INFINITY;
    for (let r = 0; r < 5; r++) t = Math.min(t, await timeRecorded(gpu, (x) => ex.recordKernel(x, 0), 5));
    ex.destroy();
    return (flops / t / 1e6).toFixed(2);
  };
  const flops = 2 * 128 * M * 16 * N;
  console.log(
    `[128] ${M}x16x${N} tB: ${await rate([128, M, 16], [128, N, 16], flops)} GFLOP/s; ${128 * M}x16x${N} tB unbatched: ${await rate([128 * M, 16], [N, 16], flops)}`,
  );
}
gpu.destroy();
process.exit(0);
