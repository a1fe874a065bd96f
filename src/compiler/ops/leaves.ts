import { Value } from '../ir/value.ts';
import { defineOp } from './table.ts';

for (const name of ['input', 'param'] as const) {
  defineOp({
    name,
    kind: 'leaf',
    arity: 0,
    infer: (_x, a) => ({ shape: a.shape, dtype: a.dtype }),
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
  infer: (_x, a) => ({ shape: a.shape, dtype: a.dtype }),
  ref: (_x, a) => Value.of(a.shape, a.value, a.dtype),
  examples: [],
});
