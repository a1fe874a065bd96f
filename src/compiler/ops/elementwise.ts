/**
 * Elementwise primitives: unary, binary with numpy broadcasting, where, cast. The math lives
 * here; how WGSL spells each op is the renderer's (codegen/render.ts), in a table typed over
 * these names.
 */
import { isFloat, type DType } from '../ir/graph.ts';
import { Value } from '../ir/value.ts';
import { broadcastIndex, broadcastShapes } from './broadcast.ts';
import { defineOp, ShapeError, type Domain, type OpDef, type VjpArgs } from './table.ts';
import type { Builder, Tensor } from '../builder.ts';
import { erf, gelu, GELU_A, GELU_C } from './math.ts';
import type { BinaryOp, UnaryOp } from '../ir/op-names.ts';
export { BINARY_OPS, UNARY_OPS, type BinaryOp, type UnaryOp } from '../ir/op-names.ts';

function map1(x: Value, f: (v: number) => number, dtype: DType = x.dtype): Value {
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(x.data[i]);
  return new Value(x.shape, out, dtype);
}

function unary(
  name: UnaryOp,
  f: (x: number) => number,
  vjp: ((b: Builder, a: VjpArgs) => Tensor) | null,
  domain: Domain = 'real',
): OpDef {
  return defineOp({
    name,
    kind: 'unary',
    arity: 1,
    infer: ([x], _a, where) => {
      if (!isFloat(x.dtype) && name !== 'neg' && name !== 'abs')
        throw new ShapeError(where, `needs a float operand, got ${x.dtype}`);
      return x;
    },
    ref: ([x]) => map1(x, f),
    vjp: vjp ? (b, a) => [vjp(b, a)] : undefined,
    examples: [{ inputs: [{ shape: [3, 4], domain }] }, { inputs: [{ shape: [], domain }] }],
  });
}

unary(
  'neg',
  (x) => -x,
  (_b, { grad }) => grad.neg(),
);
unary('exp', Math.exp, (_b, { grad, out }) => grad.mul(out));
unary('log', Math.log, (_b, { grad, inputs: [x] }) => grad.div(x), 'positive');
unary('sqrt', Math.sqrt, (_b, { grad, out }) => grad.mul(0.5).div(out), 'positive');
unary(
  'rsqrt',
  (x) => 1 / Math.sqrt(x),
  (_b, { grad, out }) => grad.mul(out.mul(out).mul(out)).mul(-0.5),
  'positive',
);
unary('tanh', Math.tanh, (_b, { grad, out }) => grad.mul(out.mul(out).neg().add(1)));
unary(
  'sigmoid',
  (x) => 1 / (1 + Math.exp(-x)),
  (_b, { grad, out }) => grad.mul(out.mul(out.neg().add(1))),
);
unary('erf', erf, (_b, { grad, inputs: [x] }) =>
  grad.mul(
    x
      .mul(x)
      .neg()
      .exp()
      .mul(2 / Math.sqrt(Math.PI)),
  ),
);
unary(
  'relu',
  (x) => Math.max(x, 0),
  (_b, { grad, inputs: [x] }) => grad.mul(x.gt(0)),
  'nonzero',
);
unary('abs', Math.abs, (b, { grad, inputs: [x] }) => grad.mul(b.unary('sign', x)), 'nonzero');
unary('sign', Math.sign, null, 'nonzero');
unary('gelu', gelu, (_b, { grad, inputs: [x] }) => {
  // d/dx 0.5 x (1 + t), t = tanh(c (x + a x^3)):  0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2)
  const x2 = x.mul(x);
  const t = x.add(x2.mul(x).mul(GELU_A)).mul(GELU_C).tanh();
  const left = t.add(1).mul(0.5);
  const right = x
    .mul(0.5 * GELU_C)
    .mul(t.mul(t).neg().add(1))
    .mul(x2.mul(3 * GELU_A).add(1));
  return grad.mul(left.add(right));
});

type BinVjp = (b: Builder, a: VjpArgs) => [Tensor | null, Tensor | null];

function binary(
  name: BinaryOp,
  f: (x: number, y: number) => number,
  vjp: BinVjp | null,
  domains: [Domain, Domain] = ['real', 'real'],
): OpDef {
  return defineOp({
    name,
    kind: 'binary',
    arity: 2,
    infer: ([x, y], _a, where) => {
      if (x.dtype !== y.dtype) throw new ShapeError(where, `operand dtypes differ: ${x.dtype} vs ${y.dtype}`);
      return { shape: broadcastShapes(where, x.shape, y.shape), dtype: x.dtype };
    },
    ref: ([x, y], _a, out) => {
      const ix = broadcastIndex(x.shape, out.shape);
      const iy = broadcastIndex(y.shape, out.shape);
      const data = new Float64Array(ix.length);
      for (let i = 0; i < data.length; i++) data[i] = f(x.data[ix[i]], y.data[iy[i]]);
      return new Value(out.shape, data, out.dtype);
    },
    // Rules give full-shape gradients; reducing over broadcast axes is common to all binaries.
    vjp: vjp ? (b, a) => vjp(b, a).map((g, i) => (g ? b.sumTo(g, a.inputs[i].shape) : null)) : undefined,
    examples: [
      {
        inputs: [
          { shape: [3, 4], domain: domains[0] },
          { shape: [3, 4], domain: domains[1] },
        ],
      },
      {
        inputs: [
          { shape: [2, 1, 4], domain: domains[0] },
          { shape: [3, 1], domain: domains[1] },
        ],
      },
      {
        inputs: [
          { shape: [], domain: domains[0] },
          { shape: [2, 3], domain: domains[1] },
        ],
      },
      {
        inputs: [
          { shape: [1, 3], domain: domains[0] },
          { shape: [], domain: domains[1] },
        ],
      },
    ],
  });
}

const cmp = (p: boolean) => (p ? 1 : 0);
binary(
  'add',
  (x, y) => x + y,
  (_b, { grad }) => [grad, grad],
);
binary(
  'sub',
  (x, y) => x - y,
  (_b, { grad }) => [grad, grad.neg()],
);
binary(
  'mul',
  (x, y) => x * y,
  (_b, { grad, inputs: [x, y] }) => [grad.mul(y), grad.mul(x)],
);
binary(
  'div',
  (x, y) => x / y,
  (_b, { grad, out, inputs: [, y] }) => [grad.div(y), grad.mul(out).div(y).neg()],
  ['real', 'nonzero'],
);
binary('max', Math.max, (_b, { grad, inputs: [x, y] }) => [grad.mul(x.ge(y)), grad.mul(x.lt(y))]);
binary('min', Math.min, (_b, { grad, inputs: [x, y] }) => [grad.mul(x.le(y)), grad.mul(x.gt(y))]);
binary(
  'pow',
  Math.pow,
  (_b, { grad, out, inputs: [x, y] }) => [grad.mul(y).mul(out).div(x), grad.mul(out).mul(x.log())],
  ['positive', 'real'],
);
// Comparisons return 1 or 0 in the operands' dtype, so masks multiply without casts.
binary('eq', (x, y) => cmp(x === y), null);
binary('ne', (x, y) => cmp(x !== y), null);
binary('lt', (x, y) => cmp(x < y), null);
binary('le', (x, y) => cmp(x <= y), null);
binary('gt', (x, y) => cmp(x > y), null);
binary('ge', (x, y) => cmp(x >= y), null);

defineOp({
  name: 'where',
  kind: 'where',
  arity: 3,
  infer: ([c, x, y], _a, where) => {
    if (x.dtype !== y.dtype) throw new ShapeError(where, `branch dtypes differ: ${x.dtype} vs ${y.dtype}`);
    return { shape: broadcastShapes(where, c.shape, x.shape, y.shape), dtype: x.dtype };
  },
  ref: ([c, x, y], _a, out) => {
    const [ic, ix, iy] = [c, x, y].map((v) => broadcastIndex(v.shape, out.shape));
    const data = new Float64Array(ic.length);
    for (let i = 0; i < data.length; i++) data[i] = c.data[ic[i]] !== 0 ? x.data[ix[i]] : y.data[iy[i]];
    return new Value(out.shape, data, out.dtype);
  },
  vjp: (b, { grad, inputs: [c, x, y] }) => [
    null,
    b.sumTo(b.where(c, grad, 0), x.shape),
    b.sumTo(b.where(c, 0, grad), y.shape),
  ],
  examples: [
    { inputs: [{ shape: [3, 4], domain: { int: 2 } }, { shape: [3, 4] }, { shape: [3, 4] }] },
    { inputs: [{ shape: [3, 1], domain: { int: 2 } }, { shape: [1, 4] }, { shape: [] }] },
  ],
});

// The reference is exact Float64 math: float-to-float casts change storage precision, which
// GPU comparisons cover with their tolerance, so here they are the identity. Int casts truncate.
const roundTo: Record<DType, (v: number) => number> = {
  f32: (v) => v,
  f16: (v) => v,
  i32: (v) => Math.trunc(v) | 0,
  u32: (v) => Math.trunc(v) >>> 0,
};

defineOp({
  name: 'cast',
  kind: 'cast',
  arity: 1,
  infer: ([x], a) => ({ shape: x.shape, dtype: a.dtype }),
  ref: ([x], a) => map1(x, roundTo[a.dtype], a.dtype),
  vjp: (b, { grad, inputs: [x] }) => [isFloat(x.dtype) && isFloat(grad.dtype) ? b.cast(grad, x.dtype) : null],
  examples: [
    { inputs: [{ shape: [5] }], attrs: { dtype: 'f16' } },
    { inputs: [{ shape: [2, 3] }], attrs: { dtype: 'i32' } },
    { inputs: [{ shape: [4], dtype: 'i32', domain: { int: 9 } }], attrs: { dtype: 'f32' } },
  ],
});
