/**
 * The kernel description between fusion and a backend. Fusion says which nodes one kernel
 * computes; description (kernel/describe.ts) turns each group into one of five kernel shapes whose
 * per-element work is an expression DAG over a few named index variables: index arithmetic on
 * sizes, loads of buffers, elementwise math named by the op table, counter-based random draws.
 * Nothing here is WGSL: the WGSL renderer (codegen/) spells it for Dawn, the CPU interpreter
 * (kernel/interpret.ts) evaluates it, and both are checked against the graph's Float64 reference.
 *
 * Expressions are hash-consed by their builder (equal structure, one node), so a renderer may
 * memoize by node and an analysis (which loop variables a node depends on) is computed once.
 */
import type { OpName } from '../ir/op-names.ts';
import type { Attrs, DType } from '../ir/graph.ts';

/** u32: indices and sizes; f32: values (half storage widens on load); i32/u32 casts; bool: masks. */
export type KType = 'u32' | 'i32' | 'f32' | 'bool';

/**
 * Index variables a kernel shape defines (see Kernel): the element `i` of a map, output `o` and
 * reduced position `r` of a reduction, `row`/`j` of a row kernel, a matmul's batch `p`, row `r`,
 * column `c`, flat output `o` and its two partial indices `pr` (p * M + r) and `rc` (r * N + c),
 * and the accumulators `acc` (matmul) / `acc0`... (row reductions).
 */
export type KVar = 'i' | 'o' | 'r' | 'row' | 'j' | 'p' | 'c' | 'pr' | 'rc' | 'acc' | `acc${number}`;

/** What each expression op carries besides its operands. */
interface KOps {
  var: { name: KVar };
  /** A size of the kernel (an extent, stride or offset): a u32 a backend may pass as a parameter. */
  size: { n: number };
  /** u32 sum of its operands. */
  add: object;
  /** u32 product of its two operands. */
  mul: object;
  /** x / d and x % d of a u32 x < bound. */
  div: { d: number; bound: number };
  mod: { d: number; bound: number };
  /** min(max(x, lo) - lo, n - 1): a coordinate of a pad or concat part, clamped into its source. */
  clampSub: { lo: number; n: number };
  /** lo <= x < lo + n. */
  inRange: { lo: number; n: number };
  /** x < n. */
  below: { n: number };
  and: object;
  /** A gather's row: the index value truncated to an integer, clamped into [0, rows). */
  rowOf: { rows: number };
  /** Element x of the buffer of graph node `buf`. */
  load: { buf: number };
  const: { value: number; dtype: DType };
  /** The elementwise op of the op table named `name` (unary, binary, where). */
  math: { name: OpName; attrs: Attrs };
  cast: { dtype: DType };
  /** cond ? a : b, operands (cond, a, b). */
  select: object;
  /** The uniform draw of ops/random.ts at (seed operand, salt, index operand). */
  uniform: { salt: number };
  /** A uniform draw scaled to an integer in [0, high). */
  randint: { high: number };
}

export type KOp = keyof KOps;

interface KBase {
  /** Unique per builder: equal ids, equal expressions. */
  readonly id: number;
  readonly args: readonly KExpr[];
  readonly ty: KType;
  /** The index variables the value depends on (a loop-invariant test for hoisting). */
  readonly deps: ReadonlySet<KVar>;
}

export type KExpr = { [O in KOp]: KBase & { readonly op: O } & Readonly<KOps[O]> }[KOp];
export type KExprOf<O extends KOp> = Extract<KExpr, { op: O }>;

/** A reduction's combine step and identity, as the op table states them. */
export interface Reduce {
  combine: 'add' | 'max';
  identity: number;
}

/** One operand of a matmul: a buffer, row-major or transposed, offset per batch entry `p`. */
export interface MatmulOperand {
  buf: number;
  trans: boolean;
  /** The operand's batch entry for output batch `p` (an expression in `p`). */
  batch: KExpr;
}

/**
 * The five kernel shapes. Each writes the buffer of node `out`; `reads` are the materialized
 * nodes it may load (fusion's reads). Every index below is a flat row-major index.
 */
export type KernelShape =
  /** out[i] = value, for i < n; and each sibling's buffer gets its value at i. */
  | { kind: 'map'; n: number; value: KExpr; siblings: { out: number; value: KExpr }[] }
  /** out[o] = combine over r < R of value, for o < n (value in o and r). */
  | { kind: 'reduce'; n: number; R: number; reduce: Reduce; value: KExpr }
  /**
   * Per row < rows: acc_k = combine over j < C of reductions[k].value (which may use acc_m,
   * m < k), then out[row * C + j] = value for j < C.
   */
  | { kind: 'row'; rows: number; C: number; reductions: { reduce: Reduce; value: KExpr }[]; value: KExpr }
  /** out[o] = sum over k < nIdx with indices[k] == o / rowLen of value at i = k * rowLen + o % rowLen. */
  | { kind: 'scatter'; n: number; rowLen: number; indices: number; nIdx: number; value: KExpr }
  /**
   * out[o] = epilogue (or acc where none), o = (p * M + r) * N + c, acc = sum over k < K of
   * A[p][r][k] * B[p][k][c] for p < numel(batch).
   */
  | {
      kind: 'matmul';
      M: number;
      N: number;
      K: number;
      batch: number[];
      a: MatmulOperand;
      b: MatmulOperand;
      epilogue: KExpr | null;
    };

export type Kernel = KernelShape & { out: number; reads: number[] };

/** Builds hash-consed expressions: one node per distinct (op, attributes, operands). */
export class KBuilder {
  private readonly table = new Map<string, KExpr>();

  make<O extends KOp>(op: O, data: KOps[O], args: KExpr[], ty: KType): KExprOf<O> {
    const key = `${op}${JSON.stringify(data)}(${args.map((a) => a.id).join(',')})`;
    let e = this.table.get(key);
    if (!e) {
      const deps = new Set<KVar>(args.flatMap((a) => [...a.deps]));
      if (op === 'var') deps.add((data as KOps['var']).name);
      e = { ...data, op, args, ty, deps, id: this.table.size } as unknown as KExpr;
      this.table.set(key, e);
    }
    return e as KExprOf<O>;
  }

  var(name: KVar, ty: KType = name.startsWith('acc') ? 'f32' : 'u32') {
    return this.make('var', { name }, [], ty);
  }
  size(n: number) {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`kernel: size ${n} is not a u32`);
    return this.make('size', { n }, [], 'u32');
  }
  /** A u32 sum (of no terms: 0). */
  add(terms: KExpr[]): KExpr {
    return terms.length === 0 ? this.const(0, 'u32') : this.make('add', {}, terms, 'u32');
  }
  mul(a: KExpr, b: KExpr) {
    return this.make('mul', {}, [a, b], 'u32');
  }
  const(value: number, dtype: DType) {
    return this.make('const', { value, dtype }, [], dtype === 'i32' ? 'i32' : dtype === 'u32' ? 'u32' : 'f32');
  }
}
