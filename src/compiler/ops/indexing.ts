/** gather (embedding lookup along axis 0) and its adjoint scatter_add. */
import { numel, shapeStr } from '../ir/graph.ts';
import { Value } from '../ir/value.ts';
import { defineOp, ShapeError } from './table.ts';

function checkIndex(i: number, size: number, op: string): number {
  if (!Number.isInteger(i) || i < 0 || i >= size) throw new RangeError(`${op}: index ${i} out of range [0, ${size})`);
  return i;
}

defineOp({
  name: 'gather',
  kind: 'index',
  arity: 2,
  infer: ([table, idx], _a, where) => {
    if (table.shape.length < 1) throw new ShapeError(where, 'table must have rank >= 1');
    if (idx.dtype !== 'i32' && idx.dtype !== 'u32')
      throw new ShapeError(where, `indices must be i32 or u32, got ${idx.dtype}`);
    return { shape: [...idx.shape, ...table.shape.slice(1)], dtype: table.dtype };
  },
  ref: ([table, idx], _a, out) => {
    const row = numel(table.shape.slice(1));
    const data = new Float64Array(numel(out.shape));
    for (let i = 0; i < idx.data.length; i++) {
      const r = checkIndex(idx.data[i], table.shape[0], 'gather');
      data.set(table.data.subarray(r * row, r * row + row), i * row);
    }
    return new Value(out.shape, data, table.dtype);
  },
  vjp: (b, { grad, inputs: [table, idx] }) => [b.scatterAdd(idx, grad, table.shape[0]), null],
  examples: [
    { inputs: [{ shape: [5, 3] }, { shape: [2, 4], dtype: 'i32', domain: { int: 5 } }] },
    { inputs: [{ shape: [4, 2, 3] }, { shape: [1], dtype: 'i32', domain: { int: 4 } }] },
  ],
});

defineOp({
  name: 'scatter_add',
  kind: 'index',
  arity: 2,
  infer: ([idx, upd], a, where) => {
    if (idx.dtype !== 'i32' && idx.dtype !== 'u32')
      throw new ShapeError(where, `indices must be i32 or u32, got ${idx.dtype}`);
    const lead = upd.shape.slice(0, idx.shape.length);
    if (lead.length !== idx.shape.length || lead.some((d, i) => d !== idx.shape[i])) {
      throw new ShapeError(
        where,
        `updates ${shapeStr(upd.shape)} must start with the index shape ${shapeStr(idx.shape)}`,
      );
    }
    return { shape: [a.size, ...upd.shape.slice(idx.shape.length)], dtype: upd.dtype };
  },
  ref: ([idx, upd], a, out) => {
    const row = numel(out.shape.slice(1));
    const data = new Float64Array(numel(out.shape));
    for (let i = 0; i < idx.data.length; i++) {
      const r = checkIndex(idx.data[i], a.size, 'scatter_add');
      for (let j = 0; j < row; j++) data[r * row + j] += upd.data[i * row + j];
    }
    return new Value(out.shape, data, upd.dtype);
  },
  vjp: (b, { grad, inputs: [idx] }) => [null, b.gather(grad, idx)],
  examples: [
    { inputs: [{ shape: [6], dtype: 'i32', domain: { int: 3 } }, { shape: [6, 2] }], attrs: { size: 3 } },
    { inputs: [{ shape: [2, 2], dtype: 'i32', domain: { int: 4 } }, { shape: [2, 2] }], attrs: { size: 4 } },
  ],
});
