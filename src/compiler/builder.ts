/**
 * The tracing builder: every primitive as a method that checks shapes (through the op table)
 * and appends a node. Tensor handles carry the same methods for fluent code.
 * VJP rules and composites are written against this API, so they are graphs of primitives too.
 */
import type { BinaryOp, OpName, UnaryOp } from './ir/op-names.ts';
import { Graph, numel, sameShape, shapeStr, type Attrs, type DType, type ParamInfo, type Shape } from './ir/graph.ts';
import { getOp, ShapeError } from './ops/index.ts';
import { broadcastAxes } from './ops/broadcast.ts';

export type Operand = Tensor | number;

/** Operands per concat node: under the portable 8 storage buffers per kernel, with the output. */
const CONCAT_FAN_IN = 6;

export class Tensor {
  constructor(
    readonly b: Builder,
    readonly id: number,
  ) {}
  get shape(): Shape {
    return this.b.g.get(this.id).shape;
  }
  get dtype(): DType {
    return this.b.g.get(this.id).dtype;
  }
  get rank(): number {
    return this.shape.length;
  }
  toString(): string {
    return `%${this.id}${shapeStr(this.shape)}`;
  }
  add(o: Operand): Tensor {
    return this.b.add(this, o);
  }
  sub(o: Operand): Tensor {
    return this.b.sub(this, o);
  }
  mul(o: Operand): Tensor {
    return this.b.mul(this, o);
  }
  div(o: Operand): Tensor {
    return this.b.div(this, o);
  }
  pow(o: Operand): Tensor {
    return this.b.pow(this, o);
  }
  maximum(o: Operand): Tensor {
    return this.b.max(this, o);
  }
  minimum(o: Operand): Tensor {
    return this.b.min(this, o);
  }
  gt(o: Operand): Tensor {
    return this.b.gt(this, o);
  }
  ge(o: Operand): Tensor {
    return this.b.ge(this, o);
  }
  lt(o: Operand): Tensor {
    return this.b.lt(this, o);
  }
  le(o: Operand): Tensor {
    return this.b.le(this, o);
  }
  eq(o: Operand): Tensor {
    return this.b.eq(this, o);
  }
  neg(): Tensor {
    return this.b.unary('neg', this);
  }
  exp(): Tensor {
    return this.b.unary('exp', this);
  }
  log(): Tensor {
    return this.b.unary('log', this);
  }
  sqrt(): Tensor {
    return this.b.unary('sqrt', this);
  }
  rsqrt(): Tensor {
    return this.b.unary('rsqrt', this);
  }
  tanh(): Tensor {
    return this.b.unary('tanh', this);
  }
  sigmoid(): Tensor {
    return this.b.unary('sigmoid', this);
  }
  relu(): Tensor {
    return this.b.unary('relu', this);
  }
  gelu(): Tensor {
    return this.b.unary('gelu', this);
  }
  abs(): Tensor {
    return this.b.unary('abs', this);
  }
  sum(axes?: number[], keepdims = false): Tensor {
    return this.b.sum(this, axes, keepdims);
  }
  max(axes?: number[], keepdims = false): Tensor {
    return this.b.reduceMax(this, axes, keepdims);
  }
  mean(axes?: number[], keepdims = false): Tensor {
    return this.b.mean(this, axes, keepdims);
  }
  matmul(o: Tensor, opts?: { transA?: boolean; transB?: boolean }): Tensor {
    return this.b.matmul(this, o, opts);
  }
  reshape(shape: Shape): Tensor {
    return this.b.reshape(this, shape);
  }
  permute(perm: number[]): Tensor {
    return this.b.permute(this, perm);
  }
  /** Swaps the last two axes. */
  T(): Tensor {
    return this.b.transpose(this);
  }
  broadcastTo(shape: Shape): Tensor {
    return this.b.broadcastTo(this, shape);
  }
  cast(dtype: DType): Tensor {
    return this.b.cast(this, dtype);
  }
}

function normAxes(axes: number[] | undefined, rank: number, where: string): number[] {
  const all = axes ?? [...Array(rank).keys()];
  const out = all.map((a) => (a < 0 ? a + rank : a));
  for (const a of out) if (a < 0 || a >= rank) throw new ShapeError(where, `axis ${a} out of range for rank ${rank}`);
  return [...new Set(out)].sort((x, y) => x - y);
}

export class Builder {
  private scopes: string[] = [];
  private salt = 0;

  constructor(readonly g: Graph = new Graph()) {}

  /** Wraps a node id of this builder's graph. */
  t(id: number): Tensor {
    this.g.get(id);
    return new Tensor(this, id);
  }

  /** Names nodes built inside `fn` with a dotted layer path (errors and the printer show it): `name` under the current scope. */
  scope<T>(name: string, fn: () => T): T {
    return this.within(this.currentScope ? `${this.currentScope}.${name}` : name, fn);
  }

  /** As scope(), with `path` a whole layer path (an insertion point's), not one under the current scope. */
  at<T>(path: string, fn: () => T): T {
    return this.within(path, fn);
  }

  private within<T>(full: string, fn: () => T): T {
    this.scopes.push(full);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  get currentScope(): string {
    return this.scopes.at(-1) ?? '';
  }

  /** Appends a node for primitive `op`, inferring and checking its type through the op table. */
  op(op: OpName, inputs: Tensor[], attrs: Attrs = {}): Tensor {
    const def = getOp(op);
    for (const x of inputs) if (x.b !== this) throw new Error(`${op}: operand from another graph`);
    if (def.arity >= 0 && inputs.length !== def.arity) {
      throw new ShapeError(this.loc(op), `expects ${def.arity} inputs, got ${inputs.length}`);
    }
    const types = inputs.map((x) => this.g.get(x.id));
    const { shape, dtype } = def.infer(types, attrs, this.loc(op));
    const node = this.g.push({
      op,
      inputs: inputs.map((x) => x.id),
      attrs,
      shape: [...shape],
      dtype,
      scope: this.currentScope || undefined,
    });
    return new Tensor(this, node.id);
  }

  private loc(op: string): string {
    return `${op} in '${this.currentScope || '<root>'}'`;
  }

  // ---- leaves ----
  input(name: string, shape: Shape, dtype: DType = 'f32'): Tensor {
    if (this.g.leaf('input', name)) throw new Error(`input '${name}' declared twice`);
    return this.op('input', [], { name, shape: [...shape], dtype });
  }

  /**
   * A parameter. Declaring the same name again returns the same tensor (that is how sharing
   * groups work: several insertion sites, one stored tensor, gradients summed by autodiff).
   */
  param(name: string, shape: Shape, info: Omit<ParamInfo, 'name'>, dtype: DType = 'f32'): Tensor {
    const prev = this.g.leaf('param', name);
    if (prev) {
      if (!sameShape(prev.shape, shape)) {
        throw new ShapeError(
          `param '${name}'`,
          `shared parameter declared with shape ${shapeStr(shape)}, but it is ${shapeStr(prev.shape)}`,
        );
      }
      return this.t(prev.id);
    }
    return this.op('param', [], { name, shape: [...shape], dtype, info: { name, ...info } });
  }

  constant(value: number | number[], shape: Shape = [], dtype: DType = 'f32'): Tensor {
    const data = typeof value === 'number' ? new Array(numel(shape)).fill(value) : value;
    return this.op('const', [], { value: data, shape: [...shape], dtype });
  }

  private lift(x: Operand, like: Tensor): Tensor {
    return typeof x === 'number' ? this.constant(x, [], like.dtype) : x;
  }

  // ---- elementwise ----
  unary(op: UnaryOp, x: Tensor): Tensor {
    return this.op(op, [x]);
  }
  binary(op: BinaryOp, a: Operand, b: Operand): Tensor {
    const A = typeof a === 'number' ? this.lift(a, b as Tensor) : a;
    const B = this.lift(b, A);
    return this.op(op, [A, B]);
  }
  add(a: Operand, b: Operand): Tensor {
    return this.binary('add', a, b);
  }
  sub(a: Operand, b: Operand): Tensor {
    return this.binary('sub', a, b);
  }
  mul(a: Operand, b: Operand): Tensor {
    return this.binary('mul', a, b);
  }
  div(a: Operand, b: Operand): Tensor {
    return this.binary('div', a, b);
  }
  pow(a: Operand, b: Operand): Tensor {
    return this.binary('pow', a, b);
  }
  max(a: Operand, b: Operand): Tensor {
    return this.binary('max', a, b);
  }
  min(a: Operand, b: Operand): Tensor {
    return this.binary('min', a, b);
  }
  eq(a: Operand, b: Operand): Tensor {
    return this.binary('eq', a, b);
  }
  ne(a: Operand, b: Operand): Tensor {
    return this.binary('ne', a, b);
  }
  lt(a: Operand, b: Operand): Tensor {
    return this.binary('lt', a, b);
  }
  le(a: Operand, b: Operand): Tensor {
    return this.binary('le', a, b);
  }
  gt(a: Operand, b: Operand): Tensor {
    return this.binary('gt', a, b);
  }
  ge(a: Operand, b: Operand): Tensor {
    return this.binary('ge', a, b);
  }
  where(cond: Tensor, a: Operand, b: Operand): Tensor {
    const like = typeof a === 'number' ? (typeof b === 'number' ? cond : b) : a;
    return this.op('where', [cond, this.lift(a, like), this.lift(b, like)]);
  }
  cast(x: Tensor, dtype: DType): Tensor {
    return x.dtype === dtype ? x : this.op('cast', [x], { dtype });
  }

  // ---- reductions ----
  sum(x: Tensor, axes?: number[], keepdims = false): Tensor {
    const ax = normAxes(axes, x.rank, this.loc('sum'));
    if (ax.length === 0) return x;
    return this.op('sum', [x], { axes: ax, keepdims });
  }
  reduceMax(x: Tensor, axes?: number[], keepdims = false): Tensor {
    return this.op('max_reduce', [x], { axes: normAxes(axes, x.rank, this.loc('max_reduce')), keepdims });
  }
  mean(x: Tensor, axes?: number[], keepdims = false): Tensor {
    const ax = normAxes(axes, x.rank, this.loc('mean'));
    const n = ax.reduce((p, a) => p * x.shape[a], 1);
    return this.sum(x, ax, keepdims).mul(1 / n);
  }

  // ---- matmul ----
  matmul(a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
    return this.op('matmul', [a, b], { transA: !!opts.transA, transB: !!opts.transB });
  }

  // ---- layout ----
  reshape(x: Tensor, shape: Shape): Tensor {
    const s = [...shape];
    const neg = s.indexOf(-1);
    if (neg >= 0) s[neg] = numel(x.shape) / -numel(s);
    if (sameShape(s, x.shape)) return x;
    return this.op('reshape', [x], { shape: s });
  }
  permute(x: Tensor, perm: number[]): Tensor {
    if (perm.every((p, i) => p === i)) return x;
    return this.op('permute', [x], { perm });
  }
  transpose(x: Tensor): Tensor {
    const r = x.rank;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    return this.permute(x, perm);
  }
  slice(x: Tensor, starts: number[], ends: number[]): Tensor {
    return this.op('slice', [x], { starts, ends });
  }
  /** Concatenation; many operands become a tree of concats so no kernel binds too many buffers. */
  concat(xs: Tensor[], axis: number): Tensor {
    if (xs.length === 1) return xs[0];
    const ax = axis < 0 ? axis + xs[0].rank : axis;
    if (xs.length > CONCAT_FAN_IN) {
      const parts: Tensor[] = [];
      for (let i = 0; i < xs.length; i += CONCAT_FAN_IN) parts.push(this.concat(xs.slice(i, i + CONCAT_FAN_IN), ax));
      return this.concat(parts, ax);
    }
    return this.op('concat', xs, { axis: ax });
  }
  broadcastTo(x: Tensor, shape: Shape): Tensor {
    if (sameShape(x.shape, shape)) return x;
    return this.op('broadcast', [x], { shape: [...shape] });
  }
  pad(x: Tensor, before: number[], after: number[]): Tensor {
    return this.op('pad', [x], { before, after });
  }

  /** Sums `x` down to `shape` over the axes broadcasting added (the adjoint of broadcasting). */
  sumTo(x: Tensor, shape: Shape): Tensor {
    if (sameShape(x.shape, shape)) return x;
    const axes = broadcastAxes(shape, x.shape);
    return this.reshape(this.sum(x, axes, false), shape);
  }

  // ---- indexing ----
  gather(table: Tensor, idx: Tensor): Tensor {
    return this.op('gather', [table, idx]);
  }
  scatterAdd(idx: Tensor, updates: Tensor, size: number): Tensor {
    return this.op('scatter_add', [idx, updates], { size });
  }

  // ---- random (counter-based; each call site gets its own salt) ----
  uniform(seed: Tensor, shape: Shape): Tensor {
    return this.op('random', [seed], { shape: [...shape], dist: 'uniform', salt: this.salt++ });
  }
  randint(seed: Tensor, shape: Shape, high: number): Tensor {
    return this.op('random', [seed], { shape: [...shape], dist: 'int', high, salt: this.salt++ });
  }

  output(name: string, x: Tensor): Tensor {
    if (this.g.outputs.has(name)) throw new Error(`output '${name}' declared twice`);
    this.g.outputs.set(name, x.id);
    return x;
  }
}
