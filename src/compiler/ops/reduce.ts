/** Reductions over any set of axes, with keepdims: sum and max. */
import { Value, strides } from '../ir/value.ts';
import { numel, type Shape } from '../ir/graph.ts';
import type { OpAttrs } from '../ir/attrs.ts';
import { defineOp, ShapeError, type OpExample, type TypeInfo } from './table.ts';

function reducedShape(shape: Shape, axes: number[], keepdims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

type Axes = OpAttrs['sum'];

function infer([x]: TypeInfo[], a: Axes, where: string): TypeInfo {
  const axes = a.axes;
  for (const ax of axes)
    if (ax < 0 || ax >= x.shape.length)
      throw new ShapeError(where, `axis ${ax} out of range for rank ${x.shape.length}`);
  return { shape: reducedShape(x.shape, axes, a.keepdims), dtype: x.dtype };
}

function reduceRef(x: Value, a: Axes, init: number, f: (acc: number, v: number) => number): Value {
  const axes = a.axes;
  const keep = reducedShape(x.shape, axes, true);
  const outStr = strides(keep);
  const out = new Float64Array(numel(keep)).fill(init);
  const rank = x.shape.length;
  const coord = new Array<number>(rank).fill(0);
  for (let i = 0; i < x.data.length; i++) {
    let o = 0;
    for (let d = 0; d < rank; d++) if (!axes.includes(d)) o += coord[d] * outStr[d];
    out[o] = f(out[o], x.data[i]);
    for (let d = rank - 1; d >= 0; d--) {
      if (++coord[d] < x.shape[d]) break;
      coord[d] = 0;
    }
  }
  return new Value(reducedShape(x.shape, axes, a.keepdims), out, x.dtype);
}

const examples: OpExample<Axes>[] = [
  { inputs: [{ shape: [3, 4] }], attrs: { axes: [1], keepdims: false } },
  { inputs: [{ shape: [2, 3, 4] }], attrs: { axes: [0, 2], keepdims: true } },
  { inputs: [{ shape: [2, 3] }], attrs: { axes: [0, 1], keepdims: false } },
  { inputs: [{ shape: [5, 1] }], attrs: { axes: [1], keepdims: false } },
];

defineOp({
  name: 'sum',
  kind: 'reduce',
  arity: 1,
  reduce: { combine: 'add', identity: 0 },
  infer,
  ref: ([x], a) => reduceRef(x, a, 0, (s, v) => s + v),
  vjp: (b, { grad, inputs: [x], attrs }) => [
    b.broadcastTo(grad.reshape(reducedShape(x.shape, attrs.axes, true)), x.shape),
  ],
  examples,
});

defineOp({
  name: 'max_reduce',
  kind: 'reduce',
  arity: 1,
  reduce: { combine: 'max', identity: -Infinity },
  infer,
  ref: ([x], a) => reduceRef(x, a, -Infinity, Math.max),
  // The gradient flows to the arg-max (to every tied maximum).
  vjp: (b, { grad, out, inputs: [x], attrs }) => {
    const keep = reducedShape(x.shape, attrs.axes, true);
    const mask = x.eq(b.broadcastTo(out.reshape(keep), x.shape));
    return [mask.mul(b.broadcastTo(grad.reshape(keep), x.shape))];
  },
  examples,
});
