/** Leaves: graph inputs, parameters and constants. Their shape and dtype are attributes. */
import type { DType } from '../ir/graph.ts';
import { Value } from '../ir/value.ts';
import { defineOp } from './registry.ts';

for (const name of ['input', 'param'] as const) {
  defineOp({
    name,
    kind: 'leaf',
    arity: 0,
    infer: (_x, a) => ({ shape: a.shape as number[], dtype: a.dtype as DType }),
    ref: () => {
      throw new Error(`${name} nodes are fed by the interpreter, not evaluated`);
    },
    examples: [],
  });
}

defineOp({
  name: 'const',
  kind: 'leaf',
  arity: 0,
  infer: (_x, a) => ({ shape: a.shape as number[], dtype: a.dtype as DType }),
  ref: (_x, a) => Value.of(a.shape as number[], a.value as number[], a.dtype as DType),
  examples: [],
});
