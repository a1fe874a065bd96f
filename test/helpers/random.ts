/** Seeded test data: values drawn for an op input's domain. */
import { prng } from '../../src/runtime/init.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { numel, type DType, type Shape } from '../../src/compiler/ir/graph.ts';
import type { Domain } from '../../src/compiler/ops/index.ts';

/** Seeded uniform [0, 1): the runtime's own PRNG, so tests and init draw alike. */
export const rng = prng;

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
