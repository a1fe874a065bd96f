/**
 * How WGSL spells each primitive the op table defines: elementwise ops over already-loaded f32
 * operands, and the reductions' combine steps. Typed over the op names, so tsc names an op the
 * table lacks; the op table itself holds only math (shape rules, Float64 reference, VJPs).
 */
import type { Attrs } from '../ir/graph.ts';
import type { BinaryOp, UnaryOp } from '../ops/elementwise.ts';
import type { OpDef } from '../ops/table.ts';

const UNARY: { [P in UnaryOp]: (a: string) => string } = {
  neg: (a) => `(-${a})`,
  exp: (a) => `exp(${a})`,
  log: (a) => `log(${a})`,
  sqrt: (a) => `sqrt(${a})`,
  rsqrt: (a) => `inverseSqrt(${a})`,
  // Helpers of kernels/prelude.wgsl (overflow-free forms; see there).
  tanh: (a) => `tanh_f32(${a})`,
  sigmoid: (a) => `sigmoid_f32(${a})`,
  erf: (a) => `erf_f32(${a})`,
  relu: (a) => `max(${a}, 0.0)`,
  abs: (a) => `abs(${a})`,
  sign: (a) => `sign(${a})`,
  gelu: (a) => `gelu_f32(${a})`,
};

// Comparisons give 1.0 / 0.0 (the IR computes them in f32).
const cmp = (op: string) => (a: string, b: string) => `select(0.0, 1.0, ${a} ${op} ${b})`;

const BINARY: { [P in BinaryOp]: (a: string, b: string) => string } = {
  add: (a, b) => `(${a} + ${b})`,
  sub: (a, b) => `(${a} - ${b})`,
  mul: (a, b) => `(${a} * ${b})`,
  div: (a, b) => `(${a} / ${b})`,
  max: (a, b) => `max(${a}, ${b})`,
  min: (a, b) => `min(${a}, ${b})`,
  pow: (a, b) => `pow(${a}, ${b})`,
  eq: cmp('=='),
  ne: cmp('!='),
  lt: cmp('<'),
  le: cmp('<='),
  gt: cmp('>'),
  ge: cmp('>='),
};

/** The WGSL expression of an elementwise node (unary, binary, where, cast) over `args`. */
export function elementwise(op: string, args: string[], attrs: Attrs): string {
  if (op in UNARY) return UNARY[op as UnaryOp](args[0]);
  if (op in BINARY) return BINARY[op as BinaryOp](args[0], args[1]);
  if (op === 'where') return `select(${args[2]}, ${args[1]}, ${args[0]} != 0.0)`;
  if (op === 'cast') return `${attrs.dtype}(${args[0]})`;
  throw new Error(`codegen: no WGSL for elementwise op ${op}`);
}

/** One step of a reduction: `acc` combined with `v`. */
export function combine(r: NonNullable<OpDef['reduce']>, acc: string, v: string): string {
  return r.combine === 'max' ? `max(${acc}, ${v})` : `${acc} + ${v}`;
}
