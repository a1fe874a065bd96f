/**
 * Row primitives: ops over the last axis whose kernel is one row kernel (kernel/describe.ts).
 * softmax is one op rather than the composite max/exp/sum/div so that its gradient needs only
 * its output (dx = y (dy - sum(dy y))): the composite's backward kept exp(x - max) and the sum
 * alive, differentiated through the max (a gradient that is zero but was computed), and split
 * the forward into four kernels because those intermediates had users in the backward.
 */
import { isFloat } from '../ir/graph.ts';
import { Value } from '../ir/value.ts';
import { defineOp, ShapeError } from './table.ts';

defineOp({
  name: 'softmax',
  kind: 'row',
  arity: 1,
  // max, then the sum of exp(x - max), then exp(x - max) / sum: a row's three passes.
  row: {
    reductions: [
      { reduce: 'max_reduce', value: 'x' },
      { reduce: 'sum', value: ['exp', ['sub', 'x', 'acc0']] },
    ],
    value: ['div', ['exp', ['sub', 'x', 'acc0']], 'acc1'],
  },
  infer: ([x], _a, where) => {
    if (!isFloat(x.dtype)) throw new ShapeError(where, `needs a float operand, got ${x.dtype}`);
    if (x.shape.length === 0) throw new ShapeError(where, 'needs an axis (a rank >= 1 operand)');
    return x;
  },
  ref: ([x]) => {
    const C = x.shape[x.shape.length - 1];
    const out = new Float64Array(x.data.length);
    for (let r = 0; r < x.data.length; r += C) {
      let m = -Infinity;
      for (let j = 0; j < C; j++) m = Math.max(m, x.data[r + j]);
      let s = 0;
      for (let j = 0; j < C; j++) s += Math.exp(x.data[r + j] - m);
      for (let j = 0; j < C; j++) out[r + j] = Math.exp(x.data[r + j] - m) / s;
    }
    return new Value(x.shape, out, x.dtype);
  },
  vjp: (_b, { grad, out }) => {
    const ax = out.shape.length - 1;
    return [out.mul(grad.sub(grad.mul(out).sum([ax], true)))];
  },
  examples: [{ inputs: [{ shape: [3, 5] }] }, { inputs: [{ shape: [2, 3, 4] }] }, { inputs: [{ shape: [4] }] }],
});
