/**
 * What limits attention's batched blocks (the [B, heads] batches of 17x16x17 and 65x16x65
 * matmuls of the example's towers at batch 32; bench/results/ceiling.md), in one run:
 * 1. every tile the codegen has, next to 512^3;
 * 2. the same outputs as one unbatched matmul (the batching's cost, or the shape's);
 * 3. the reduction's length K against the output width N (2176 rows: K = 16..256, N = 17, 64);
 * 4. tiles fitted to 17 and 65 (thread tile times workgroup width just over them);
 * 5. 'packed' tiles (every batch entry's tiles numbered in one line) against 'reg' tiles and the
 *    plan's choice, on these blocks and the base-size towers', with 512^3 beside them (`--packed`: this section only).
 * Each figure is the fastest of 4 (--rounds) rounds, each one submission of at least 40 ms
 * (timing.ts repsFor), GFLOP/s.
 *   npx tsx bench/attention-tiles.ts [--packed] [--rounds 4]
 */
import { Builder } from '../src/compiler/builder.ts';
import { variantLabel, type MatmulVariant } from '../src/compiler/codegen/kernels.ts';
import { compilePlan } from '../src/compiler/plan.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { repsFor, timeRecorded } from '../src/runtime/timing.ts';
import { numberFlag } from './flags.ts';

const gpu = await acquireDevice();
const profile = profileOf(gpu);

interface Shape {
  b: number[];
  M: number;
  K: number;
  N: number;
  tA?: boolean;
  tB?: boolean;
}

const label = (s: Shape) =>
  `${s.b.length ? `[${s.b}] ` : ''}${s.M}x${s.K}x${s.N}${s.tA ? ' tA' : ''}${s.tB ? ' tB' : ''}`;
const tile = (v?: MatmulVariant) =>
  !v ? 'plan' : v.family === 'reg' ? `${v.tm}x${v.tn}/${v.wgx}x${v.wgy}` : variantLabel(v);

/** GFLOP/s of `s` under each variant (undefined: the plan's own choice), timed in alternating rounds. */
async function rates(s: Shape, variants: (MatmulVariant | undefined)[]): Promise<number[]> {
  const exs: Executor[] = [];
  for (const v of variants) {
    const b = new Builder();
    const a = b.input('a', [...s.b, ...(s.tA ? [s.K, s.M] : [s.M, s.K])]);
    const w = b.input('w', [...s.b, ...(s.tB ? [s.N, s.K] : [s.K, s.N])]);
    b.output('y', a.matmul(w, { transA: !!s.tA, transB: !!s.tB }));
    exs.push(await Executor.create(gpu, compilePlan(b.g, profile, v ? { matmulVariant: () => v } : {})));
  }
  const t = exs.map(() => Number.POSITIVE_INFINITY);
  const reps: number[] = [];
  for (const ex of exs) reps.push(await repsFor(gpu, (r) => ex.recordKernel(r, 0)));
  for (let r = 0; r < ROUNDS; r++)
    for (const [i, ex] of exs.entries())
      t[i] = Math.min(t[i], await timeRecorded(gpu, (x) => ex.recordKernel(x, 0), reps[i]));
  for (const ex of exs) ex.destroy();
  const flops = 2 * s.M * s.K * s.N * s.b.reduce((p, q) => p * q, 1);
  return t.map((ms) => flops / ms / 1e6);
}

const row = (s: Shape, vs: (MatmulVariant | undefined)[], r: number[]) =>
  `${label(s)}: ${vs.map((v, i) => `${tile(v)} ${r[i].toFixed(1)}`).join(' | ')}`;

const reg = (tm: number, tn: number, wgx: number, wgy: number): MatmulVariant => ({ family: 'reg', tm, tn, wgx, wgy });
const blocks: Shape[] = [
  { b: [32, 4], M: 17, K: 16, N: 17, tB: true },
  { b: [32, 4], M: 17, K: 17, N: 16 },
  { b: [32, 4], M: 17, K: 17, N: 16, tA: true },
  { b: [32, 4], M: 65, K: 16, N: 65, tB: true },
  { b: [32, 4], M: 65, K: 65, N: 16 },
  { b: [32, 4], M: 65, K: 65, N: 16, tA: true },
];

const packedOnly = process.argv.includes('--packed');
const at = process.argv.indexOf('--rounds');
const ROUNDS =
  at < 0 ? 4 : numberFlag('attention-tiles', 'rounds', process.argv[at + 1] ?? '', { integer: true, min: 1 });
console.log(`adapter: ${gpu.info.description}`);
if (!packedOnly) await tileSections();

async function tileSections() {
  console.log('\n1. every tile');
  const tiles = [
    reg(8, 8, 8, 8),
    reg(8, 4, 8, 8),
    reg(4, 4, 8, 8),
    reg(2, 2, 8, 8),
    reg(4, 2, 8, 8),
    { family: 'tiled' } as const,
  ];
  for (const s of [...blocks, { b: [], M: 512, K: 512, N: 512 }]) console.log(row(s, tiles, await rates(s, tiles)));

  console.log('\n2. batched against the same outputs unbatched (the plan`s variant)');
  for (const L of [17, 65]) {
    const [batched] = await rates({ b: [128], M: L, K: 16, N: L, tB: true }, [undefined]);
    const [flat] = await rates({ b: [], M: 128 * L, K: 16, N: L, tB: true }, [undefined]);
    console.log(`[128] ${L}x16x${L} tB ${batched.toFixed(2)} | ${128 * L}x16x${L} tB ${flat.toFixed(2)}`);
  }

  console.log('\n3. K against N (the plan`s variant)');
  for (const K of [16, 32, 64, 128, 256]) {
    const out: string[] = [];
    for (const N of [17, 64])
      out.push(`2176x${K}x${N} ${(await rates({ b: [], M: 2176, K, N, tB: true }, [undefined]))[0].toFixed(1)}`);
    console.log(out.join(' | '));
  }

  console.log('\n4. tiles fitted to 17 and 65');
  const fitted = [undefined, reg(6, 3, 6, 3), reg(9, 3, 6, 2), reg(6, 6, 3, 3), reg(9, 9, 2, 2), reg(8, 4, 4, 4)];
  for (const s of [blocks[0], blocks[1], blocks[3], blocks[4]]) console.log(row(s, fitted, await rates(s, fitted)));
}

console.log('\n5. packed tiles against the plan`s');
const packed = (tm: number, tn: number, wg = 64): MatmulVariant => ({ family: 'packed', tm, tn, wg });
const packings = [undefined, reg(8, 8, 8, 8), reg(8, 4, 8, 8), packed(6, 6), packed(8, 8), packed(9, 9), packed(9, 8)];
// The base-size towers' blocks (ViT-B/16: 197 tokens; RoBERTa: 33; d_head 64, batch 4, 12 heads).
const base: Shape[] = [
  { b: [4, 12], M: 197, K: 64, N: 197, tB: true },
  { b: [4, 12], M: 197, K: 197, N: 64 },
  { b: [4, 12], M: 33, K: 64, N: 33, tB: true },
  { b: [4, 12], M: 33, K: 33, N: 64, tA: true },
];
for (const s of [...blocks, ...base, { b: [], M: 512, K: 512, N: 512 }])
  console.log(row(s, packings, await rates(s, packings)));

gpu.destroy();
process.exit(0);
