/** Layout primitives: reshape, permute, slice, concat, broadcast, pad (zeros). */
import { numel, shapeStr, type Shape } from '../ir/graph.ts';
import { Value, strides } from '../ir/value.ts';
import { broadcastIndex, broadcastShapes } from './broadcast.ts';
import { defineOp, ShapeError } from './table.ts';

/** Visits every coordinate of `shape` in row-major order. */
function forEachCoord(shape: Shape, fn: (coord: number[], flat: number) => void): void {
  const rank = shape.length;
  const total = numel(shape);
  const c = new Array<number>(rank).fill(0);
  for (let f = 0; f < total; f++) {
    fn(c, f);
    for (let d = rank - 1; d >= 0; d--) {
      if (++c[d] < shape[d]) break;
      c[d] = 0;
    }
  }
}

function flatAt(str: number[], coord: number[], offset: readonly number[] = []): number {
  let i = 0;
  for (let d = 0; d < coord.length; d++) i += (coord[d] + (offset[d] ?? 0)) * str[d];
  return i;
}

defineOp({
  name: 'reshape',
  kind: 'layout',
  arity: 1,
  infer: ([x], a, where) => {
    const shape = a.shape;
    if (numel(shape) !== numel(x.shape))
      throw new ShapeError(
        where,
        `cannot reshape ${shapeStr(x.shape)} (${numel(x.shape)} elements) to ${shapeStr(shape)}`,
      );
    return { shape, dtype: x.dtype };
  },
  ref: ([x], a) => new Value(a.shape, x.data, x.dtype),
  vjp: (_b, { grad, inputs: [x] }) => [grad.reshape(x.shape)],
  examples: [
    { inputs: [{ shape: [2, 6] }], attrs: { shape: [3, 2, 2] } },
    { inputs: [{ shape: [4] }], attrs: { shape: [1, 4, 1] } },
  ],
});

defineOp({
  name: 'permute',
  kind: 'layout',
  arity: 1,
  infer: ([x], a, where) => {
    const perm = a.perm;
    const ok = perm.length === x.shape.length && [...perm].sort((p, q) => p - q).every((p, i) => p === i);
    if (!ok)
      throw new ShapeError(
        where,
        `perm [${perm}] is not a permutation of the ${x.shape.length} axes of ${shapeStr(x.shape)}`,
      );
    return { shape: perm.map((p) => x.shape[p]), dtype: x.dtype };
  },
  ref: ([x], a, out) => {
    const perm = a.perm;
    const xs = strides(x.shape);
    const data = new Float64Array(x.data.length);
    forEachCoord(out.shape, (c, f) => {
      let src = 0;
      for (let d = 0; d < c.length; d++) src += c[d] * xs[perm[d]];
      data[f] = x.data[src];
    });
    return new Value(out.shape, data, x.dtype);
  },
  vjp: (_b, { grad, attrs }) => {
    const perm = attrs.perm;
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [grad.permute(inv)];
  },
  examples: [
    { inputs: [{ shape: [2, 3, 4] }], attrs: { perm: [2, 0, 1] } },
    { inputs: [{ shape: [3, 5] }], attrs: { perm: [1, 0] } },
  ],
});

defineOp({
  name: 'slice',
  kind: 'layout',
  arity: 1,
  infer: ([x], a, where) => {
    const [s, e] = [a.starts, a.ends];
    if (s.length !== x.shape.length || e.length !== x.shape.length)
      throw new ShapeError(where, `starts/ends need ${x.shape.length} entries for ${shapeStr(x.shape)}`);
    x.shape.forEach((d, i) => {
      if (s[i] < 0 || e[i] > d || s[i] >= e[i])
        throw new ShapeError(where, `axis ${i}: slice [${s[i]}, ${e[i]}) is not a non-empty range within 0..${d}`);
    });
    return { shape: s.map((v, i) => e[i] - v), dtype: x.dtype };
  },
  ref: ([x], a, out) => {
    const xs = strides(x.shape);
    const data = new Float64Array(numel(out.shape));
    forEachCoord(out.shape, (c, f) => (data[f] = x.data[flatAt(xs, c, a.starts)]));
    return new Value(out.shape, data, x.dtype);
  },
  vjp: (b, { grad, inputs: [x], attrs }) => {
    const s = attrs.starts;
    return [
      b.pad(
        grad,
        s,
        x.shape.map((d, i) => d - attrs.ends[i]),
      ),
    ];
  },
  examples: [
    { inputs: [{ shape: [4, 5] }], attrs: { starts: [1, 0], ends: [3, 4] } },
    { inputs: [{ shape: [2, 3, 2] }], attrs: { starts: [0, 2, 1], ends: [2, 3, 2] } },
  ],
});

defineOp({
  name: 'pad',
  kind: 'layout',
  arity: 1,
  infer: ([x], a, where) => {
    const [bf, af] = [a.before, a.after];
    if (bf.length !== x.shape.length || af.length !== x.shape.length)
      throw new ShapeError(where, `before/after need ${x.shape.length} entries for ${shapeStr(x.shape)}`);
    if ([...bf, ...af].some((v) => v < 0)) throw new ShapeError(where, 'padding must be non-negative');
    return { shape: x.shape.map((d, i) => d + bf[i] + af[i]), dtype: x.dtype };
  },
  ref: ([x], a, out) => {
    const os = strides(out.shape);
    const data = new Float64Array(numel(out.shape));
    forEachCoord(x.shape, (c, f) => (data[flatAt(os, c, a.before)] = x.data[f]));
    return new Value(out.shape, data, x.dtype);
  },
  vjp: (b, { grad, inputs: [x], attrs }) => {
    const bf = attrs.before;
    return [
      b.slice(
        grad,
        bf,
        x.shape.map((d, i) => d + bf[i]),
      ),
    ];
  },
  examples: [{ inputs: [{ shape: [2, 3] }], attrs: { before: [1, 0], after: [0, 2] } }],
});

defineOp({
  name: 'concat',
  kind: 'layout',
  arity: -1,
  infer: (xs, a, where) => {
    const axis = a.axis;
    const first = xs[0];
    if (!first) throw new ShapeError(where, 'needs at least one operand');
    if (axis < 0 || axis >= first.shape.length)
      throw new ShapeError(where, `axis ${axis} out of range for rank ${first.shape.length}`);
    let total = 0;
    for (const x of xs) {
      if (x.dtype !== first.dtype) throw new ShapeError(where, `operand dtypes differ: ${first.dtype} vs ${x.dtype}`);
      const ok = x.shape.length === first.shape.length && x.shape.every((d, i) => i === axis || d === first.shape[i]);
      if (!ok)
        throw new ShapeError(where, `shapes ${xs.map((y) => shapeStr(y.shape)).join(', ')} differ off axis ${axis}`);
      total += x.shape[axis];
    }
    return { shape: first.shape.map((d, i) => (i === axis ? total : d)), dtype: first.dtype };
  },
  ref: (xs, a, out) => {
    const axis = a.axis;
    const os = strides(out.shape);
    const data = new Float64Array(numel(out.shape));
    let off = 0;
    for (const x of xs) {
      const offset = x.shape.map((_, i) => (i === axis ? off : 0));
      forEachCoord(x.shape, (c, f) => (data[flatAt(os, c, offset)] = x.data[f]));
      off += x.shape[axis];
    }
    return new Value(out.shape, data, out.dtype);
  },
  vjp: (b, { grad, inputs, attrs }) => {
    const axis = attrs.axis;
    let off = 0;
    return inputs.map((x) => {
      const starts = x.shape.map((_, i) => (i === axis ? off : 0));
      const ends = x.shape.map((d, i) => (i === axis ? off + d : d));
      off += x.shape[axis];
      return b.slice(grad, starts, ends);
    });
  },
  examples: [
    { inputs: [{ shape: [2, 3] }, { shape: [2, 1] }, { shape: [2, 2] }], attrs: { axis: 1 } },
    { inputs: [{ shape: [1, 3] }, { shape: [2, 3] }], attrs: { axis: 0 } },
  ],
});

defineOp({
  name: 'broadcast',
  kind: 'layout',
  arity: 1,
  infer: ([x], a, where) => {
    const shape = a.shape;
    const got = broadcastShapes(where, x.shape, shape);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new ShapeError(where, `cannot broadcast ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
    }
    return { shape, dtype: x.dtype };
  },
  ref: ([x], _a, out) => {
    const idx = broadcastIndex(x.shape, out.shape);
    const data = new Float64Array(idx.length);
    for (let i = 0; i < idx.length; i++) data[i] = x.data[idx[i]];
    return new Value(out.shape, data, x.dtype);
  },
  vjp: (b, { grad, inputs: [x] }) => [b.sumTo(grad, x.shape)],
  examples: [
    { inputs: [{ shape: [3, 1] }], attrs: { shape: [2, 3, 4] } },
    { inputs: [{ shape: [] }], attrs: { shape: [2, 2] } },
  ],
});
