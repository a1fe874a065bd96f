/** Seeded test data: a small PRNG (mulberry32) and values drawn for an op input's domain. */
import { Value } from '../../src/compiler/ir/value.ts';
import { numel, type DType, type Shape } from '../../src/compiler/ir/graph.ts';
import type { Domain } from '../../src/compiler/ops/index.ts';

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function draw(r: () => number, shape: Shape, domain: Domain = 'real', dtype: DType = 'f32'): Value {
  const n = numel(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (typeof domain === 'object') data[i] = Math.floor(r() * domain.int);
    else if (domain === 'positive') data[i] = 0.5 + 1.5 * r();
    else if (domain === 'nonzero') data[i] = (r() < 0.5 ? -1 : 1) * (0.5 + 1.5 * r());
    else data[i] = 4 * r() - 2;
  }
  return new Value(shape, data, dtype);
}
