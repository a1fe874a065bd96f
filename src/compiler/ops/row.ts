/**
 * Row primitives: ops over the last axis whose kernel is one row kernel (kernel/describe.ts).
 * softmax is one op rather than the composite max/exp/sum/div so that its gradient needs only
 * its output (dx = y (dy - sum(dy y))): the composite's backward kept exp(x - max) and the sum
 * alive, differentiated through the max (a gradient that is zero but was computed), and split
 * the forward into four kernels because those intermediates had users in the backward.
 */
import { isFloat } from '../ir/graph.ts';
import { Value } from '../ir/value.ts';
import { defineOp, type RowExpr, ShapeError, type TypeInfo } from './table.ts';

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

/*
 * The norms over the last axis, without their affine (scale and shift are elementwise ops after
 * them, which fuse into the next kernel). One row kernel forward; the backward is one more row
 * primitive over x and the output's gradient, which recomputes the row's statistics in its own
 * passes instead of keeping them from the forward: a row's two or four reductions cost less than
 * a stored [rows] tensor's write and read, and nothing else of the forward stays alive for it.
 */

/** A row's mean of `e`: sum / C. */
const meanOf = (acc: string, C: number): RowExpr => ['div', acc as RowExpr, C];

/**
 * A norm's Float64 reference over each row of x [.., C]: `at(j)` gives the output at element j
 * of the row, from its statistics (mean and 1 / sqrt(var + eps); the RMS norm's mean square in
 * place of the variance, about 0).
 */
function eachRow(
  x: Value,
  eps: number,
  rms: boolean,
  at: (j: number, s: { r: number; m: number; rstd: number; C: number }) => number,
): Value {
  const C = x.shape[x.shape.length - 1];
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length; r += C) {
    let m = 0;
    if (!rms) for (let j = 0; j < C; j++) m += x.data[r + j] / C;
    let v = 0;
    for (let j = 0; j < C; j++) v += (x.data[r + j] - m) ** 2;
    const s = { r, m, rstd: 1 / Math.sqrt(v / C + eps), C };
    for (let j = 0; j < C; j++) out[r + j] = at(j, s);
  }
  return new Value(x.shape, out, x.dtype);
}

const normInfer = (inputs: TypeInfo[], where: string): TypeInfo => {
  const [x, g] = inputs;
  if (!isFloat(x.dtype)) throw new ShapeError(where, `needs a float operand, got ${x.dtype}`);
  if (x.shape.length === 0) throw new ShapeError(where, 'needs an axis (a rank >= 1 operand)');
  if (g && (g.shape.join(',') !== x.shape.join(',') || g.dtype !== x.dtype))
    throw new ShapeError(where, `the gradient ${g.dtype}[${g.shape}] must match x ${x.dtype}[${x.shape}]`);
  return x;
};

const normExamples = [
  { inputs: [{ shape: [3, 5] }], attrs: { eps: 1e-5 } },
  { inputs: [{ shape: [2, 3, 4] }], attrs: { eps: 0.1 } },
];
const gradExamples = normExamples.map((e) => ({ ...e, inputs: [...e.inputs, ...e.inputs] }));

/** LayerNorm's mean-centred, variance-scaled row: (x - mean) / sqrt(var + eps), var biased. */
defineOp({
  name: 'layernorm',
  kind: 'row',
  arity: 1,
  row: ({ eps }, C) => {
    const xc: RowExpr = ['sub', 'x', meanOf('acc0', C)];
    return {
      reductions: [
        { reduce: 'sum', value: 'x' },
        { reduce: 'sum', value: ['mul', xc, xc] },
      ],
      value: ['mul', xc, ['rsqrt', ['add', meanOf('acc1', C), eps]]],
    };
  },
  infer: (inputs, _a, where) => normInfer(inputs, where),
  ref: ([x], { eps }) => eachRow(x, eps, false, (j, { r, m, rstd }) => (x.data[r + j] - m) * rstd),
  vjp: (b, { inputs: [x], grad, attrs }) => [b.op('layernorm_grad', [x, grad], { eps: attrs.eps })],
  examples: normExamples,
});

/**
 * LayerNorm's input gradient from x and the output's gradient g: with xhat = (x - mean) * rstd,
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
 */
defineOp({
  name: 'layernorm_grad',
  kind: 'row',
  arity: 2,
  row: ({ eps }, C) => {
    const xc: RowExpr = ['sub', 'x', meanOf('acc0', C)];
    const rstd: RowExpr = ['rsqrt', ['add', meanOf('acc1', C), eps]];
    // mean(g * xhat) * xhat = rstd^2 * mean(g * xc) * xc
    const proj: RowExpr = ['mul', ['mul', ['mul', rstd, rstd], meanOf('acc3', C)], xc];
    return {
      reductions: [
        { reduce: 'sum', value: 'x' },
        { reduce: 'sum', value: ['mul', xc, xc] },
        { reduce: 'sum', value: 'y' },
        { reduce: 'sum', value: ['mul', 'y', xc] },
      ],
      value: ['mul', rstd, ['sub', ['sub', 'y', meanOf('acc2', C)], proj]],
    };
  },
  infer: (inputs, _a, where) => normInfer(inputs, where),
  ref: ([x, g], { eps }) => {
    // The row's means of g and g * xhat, once per row (at its first element).
    let [mg, mgx] = [0, 0];
    return eachRow(x, eps, false, (j, { r, m, rstd, C }) => {
      if (j === 0) {
        [mg, mgx] = [0, 0];
        for (let k = 0; k < C; k++) {
          mg += g.data[r + k] / C;
          mgx += (g.data[r + k] * (x.data[r + k] - m) * rstd) / C;
        }
      }
      return rstd * (g.data[r + j] - mg - (x.data[r + j] - m) * rstd * mgx);
    });
  },
  examples: gradExamples,
});

/** RMSNorm's row (T5's): x / sqrt(mean(x^2) + eps). */
defineOp({
  name: 'rmsnorm',
  kind: 'row',
  arity: 1,
  row: ({ eps }, C) => ({
    reductions: [{ reduce: 'sum', value: ['mul', 'x', 'x'] }],
    value: ['mul', 'x', ['rsqrt', ['add', meanOf('acc0', C), eps]]],
  }),
  infer: (inputs, _a, where) => normInfer(inputs, where),
  ref: ([x], { eps }) => eachRow(x, eps, true, (j, { r, rstd }) => x.data[r + j] * rstd),
  vjp: (b, { inputs: [x], grad, attrs }) => [b.op('rmsnorm_grad', [x, grad], { eps: attrs.eps })],
  examples: normExamples,
});

/** RMSNorm's input gradient: with r = rsqrt(mean(x^2) + eps), dx = r * (g - x * r^2 * mean(g * x)). */
defineOp({
  name: 'rmsnorm_grad',
  kind: 'row',
  arity: 2,
  row: ({ eps }, C) => {
    const r: RowExpr = ['rsqrt', ['add', meanOf('acc0', C), eps]];
    return {
      reductions: [
        { reduce: 'sum', value: ['mul', 'x', 'x'] },
        { reduce: 'sum', value: ['mul', 'y', 'x'] },
      ],
      value: ['mul', r, ['sub', 'y', ['mul', ['mul', 'x', ['mul', r, r]], meanOf('acc1', C)]]],
    };
  },
  infer: (inputs, _a, where) => normInfer(inputs, where),
  ref: ([x, g], { eps }) => {
    // The row's mean of g * x, once per row (at its first element).
    let gx = 0;
    return eachRow(x, eps, true, (j, { r, rstd, C }) => {
      if (j === 0) {
        gx = 0;
        for (let k = 0; k < C; k++) gx += (g.data[r + k] * x.data[r + k]) / C;
      }
      return rstd * (g.data[r + j] - x.data[r + j] * rstd * rstd * gx);
    });
  },
  examples: gradExamples,
});
