/**
 * The names of the primitives, as types: `Node.op` is one of them, so a rule keyed by op
 * (`{ [K in LayoutOp]: ... }`) is kept complete by tsc, and a misspelled op in a comparison is a
 * type error. Each name is defined once in the op table (ops/), whose test checks that the
 * table and this list hold the same names.
 */
export const UNARY_OPS = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'tanh',
  'sigmoid',
  'erf',
  'relu',
  'abs',
  'sign',
  'gelu',
] as const;
export const BINARY_OPS = [
  'add',
  'sub',
  'mul',
  'div',
  'max',
  'min',
  'pow',
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
] as const;
/** Ops that only move elements: each is an index map in a kernel (kernel/describe.ts). */
export const LAYOUT_OPS = ['reshape', 'broadcast', 'permute', 'slice', 'pad', 'concat'] as const;
export const OP_NAMES = [
  'input',
  'param',
  'const',
  ...UNARY_OPS,
  ...BINARY_OPS,
  'where',
  'cast',
  'sum',
  'max_reduce',
  'softmax',
  'layernorm',
  'layernorm_grad',
  'rmsnorm',
  'rmsnorm_grad',
  'matmul',
  ...LAYOUT_OPS,
  'gather',
  'scatter_add',
  'random',
] as const;

export type UnaryOp = (typeof UNARY_OPS)[number];
export type BinaryOp = (typeof BINARY_OPS)[number];
export type LayoutOp = (typeof LAYOUT_OPS)[number];
export type OpName = (typeof OP_NAMES)[number];

export const isLayoutOp = (op: OpName): op is LayoutOp => (LAYOUT_OPS as readonly string[]).includes(op);
