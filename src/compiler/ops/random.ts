/**
 * Counter-based random numbers: element i of a random op is a pure function of
 * (seed, salt, i), so the reference, every kernel and every rerun draw the same values.
 * The hash is PCG's output permutation (O'Neill 2014), computed identically in u32 here and
 * in WGSL (kernels/random.wgsl).
 */
import { numel } from '../ir/graph.ts';
import { Value } from '../ir/value.ts';
import { defineOp, ShapeError } from './table.ts';

export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

export function randomBits(seed: number, salt: number, i: number): number {
  return pcgHash((i ^ pcgHash((seed + pcgHash(salt)) >>> 0)) >>> 0);
}

/** Uniform in [0, 1) on a 2^-24 grid: exact in f32, so GPU and reference agree bit for bit. */
export function uniformAt(seed: number, salt: number, i: number): number {
  return (randomBits(seed, salt, i) >>> 8) / 16777216;
}

defineOp({
  name: 'random',
  kind: 'random',
  arity: 1,
  infer: ([seed], a, where) => {
    if (seed.shape.length !== 0 || seed.dtype !== 'u32')
      throw new ShapeError(where, `seed must be a u32 scalar, got ${seed.dtype}[${seed.shape}]`);
    if (a.dist === 'int' && !(Number.isInteger(a.high) && (a.high ?? 0) >= 1))
      throw new ShapeError(where, `integer draw needs high >= 1, got ${a.high}`);
    return { shape: a.shape, dtype: a.dist === 'int' ? 'i32' : 'f32' };
  },
  ref: ([seed], a, out) => {
    const n = numel(out.shape);
    const data = new Float64Array(n);
    const s = seed.data[0] >>> 0;
    for (let i = 0; i < n; i++) {
      const u = uniformAt(s, a.salt, i);
      data[i] = a.dist === 'int' ? Math.floor(u * (a.high ?? 1)) : u;
    }
    return new Value(out.shape, data, out.dtype);
  },
  examples: [
    {
      inputs: [{ shape: [], dtype: 'u32', domain: { int: 1000 } }],
      attrs: { shape: [4, 5], dist: 'uniform', salt: 3 },
    },
    {
      inputs: [{ shape: [], dtype: 'u32', domain: { int: 1000 } }],
      attrs: { shape: [7], dist: 'int', high: 4, salt: 1 },
    },
  ],
});
