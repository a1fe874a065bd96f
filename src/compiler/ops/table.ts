/**
 * The op table: each primitive is defined once, with its shape/dtype rule, its Float64
 * reference, its VJP (built from other primitives through the Builder), and what a kernel needs
 * of it (a reduction's combine and identity, a row op's passes). Kernel descriptions name the op
 * (kernel/describe.ts); each backend spells its math (codegen/ for WGSL). Tests iterate this
 * table; nothing else in the compiler special-cases an op's math.
 */
import { UserError } from '../../user-error.ts';
import type { Attrs, DType, Shape } from '../ir/graph.ts';
import type { OpName } from '../ir/op-names.ts';
import type { AttrsFor } from '../ir/attrs.ts';
import type { Value } from '../ir/value.ts';
import type { Builder, Tensor } from '../builder.ts';

export interface TypeInfo {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** How table-driven tests draw an input: values safe for the op's domain. */
export type Domain = 'real' | 'positive' | 'nonzero' | { int: number };

export interface OpExample<A = Attrs> {
  inputs: { shape: number[]; dtype?: DType; domain?: Domain }[];
  attrs?: A;
}

export interface VjpArgs<A = Attrs> {
  inputs: Tensor[];
  out: Tensor;
  grad: Tensor;
  attrs: A;
}

/**
 * An expression of a row op's pass: the row's element of its first input `x` (of its second,
 * `y`), an earlier reduction `acc<k>`, an f32 constant, or [op, ...args].
 */
export type RowExpr = 'x' | 'y' | `acc${number}` | number | [OpName, ...RowExpr[]];

/** A row op's passes: each reduction of a value, then the output's value at each element. */
export interface RowPasses {
  reductions: { reduce: OpName; value: RowExpr }[];
  value: RowExpr;
}

/** An op's definition; `A` its attributes (ir/attrs.ts), typed in every rule. */
export interface OpDef<A = Attrs> {
  readonly name: OpName;
  readonly kind:
    | 'leaf'
    | 'unary'
    | 'binary'
    | 'where'
    | 'reduce'
    | 'row'
    | 'matmul'
    | 'layout'
    | 'index'
    | 'random'
    | 'cast';
  /** Number of inputs, or -1 for variadic (concat). */
  readonly arity: number;
  /** Shape and dtype of the output; throws ShapeError naming `where` on a mismatch. */
  infer(inputs: TypeInfo[], attrs: A, where: string): TypeInfo;
  /** Float64 reference evaluation. */
  ref(inputs: Value[], attrs: A, out: TypeInfo): Value;
  /** Gradients w.r.t. each input (null where none flows), from primitives. Absent: not differentiable. */
  vjp?(b: Builder, a: VjpArgs<A>): (Tensor | null)[];
  /** Reductions: how values combine and what the empty reduction is (a renderer spells it). */
  readonly reduce?: { combine: 'add' | 'max'; identity: number };
  /**
   * Row ops: the passes of their one row kernel over a row of the inputs, as expressions over op
   * names: each reduction (a reduce op) of a value, whose results later passes read as `acc0`,
   * `acc1`..., then the output's value at each element. A function of the op's attributes and
   * the row's length C when the passes need them (a norm's eps, a mean's 1/C).
   */
  readonly row?: RowPasses | ((attrs: A, C: number) => RowPasses);
  /** Shapes and attrs the op-table tests run; every op must have at least one. */
  readonly examples: OpExample<A>[];
}

export class ShapeError extends UserError {
  constructor(where: string, msg: string) {
    super(`${where}: ${msg}`);
    this.name = 'ShapeError';
  }
}

const table = new Map<OpName, OpDef>();

/** Registers an op; its rules see the attributes ir/attrs.ts gives its name. */
export function defineOp<K extends OpName>(def: OpDef<AttrsFor<K>> & { name: K }): OpDef<AttrsFor<K>> {
  if (table.has(def.name)) throw new Error(`op '${def.name}' defined twice`);
  if (def.kind !== 'leaf' && def.examples.length === 0) throw new Error(`op '${def.name}' has no examples`);
  if ((def.kind === 'row') !== !!def.row)
    throw new Error(`op '${def.name}': a row op, and only a row op, describes its row kernel's passes`);
  table.set(def.name, def as unknown as OpDef);
  return def;
}

export function getOp(name: OpName): OpDef {
  const d = table.get(name);
  if (!d) throw new Error(`unknown op '${name}'; known ops: ${[...table.keys()].sort().join(', ')}`);
  return d;
}

export function allOps(): OpDef[] {
  return [...table.values()];
}
