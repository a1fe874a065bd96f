/**
 * The expression generator behind every fused kernel: emits WGSL that computes the element of
 * node `id` at flat index `idx`, inlining elementwise, layout, gather and random ops and loading
 * from a buffer where a node is materialized. Layout ops become index arithmetic on static
 * shapes, so a broadcast, a transpose or a slice inside a group costs no memory traffic.
 */
import { numel, type Graph, type Node, type Shape } from '../ir/graph.ts';
import { strides } from '../ir/value.ts';
import { getOp } from '../ops/index.ts';
import { computeType, literal, type Sizes, type Storage } from './wgsl.ts';
import { attrsOf } from '../ir/attrs.ts';
import { elementwise } from './render.ts';

/** An index map needs a division that the lanes of a multi-element thread do not share. */
export class LaneMisaligned extends Error {}

export interface ExprHost {
  graph: Graph;
  /** True where the node's value lives in a buffer. */
  materialized(id: number): boolean;
  /** Name of the storage array holding node `id` (registers the binding). */
  bind(id: number): string;
  /** Element type of node `id`'s buffer: half-stored values are widened to f32 on load. */
  storage(id: number): Storage;
  /** Where the kernel's sizes come from (uniform slots or literals). */
  sizes: Sizes;
}

export class ExprGen {
  readonly lines: string[] = [];
  private readonly memo = new Map<string, string>();
  /** Quotients and remainders already known, by dividend and divisor value. */
  private readonly divMemo = new Map<string, [string, string]>();
  /** Lane indices `base + e` of a thread computing `width` consecutive elements. */
  private readonly lanes = new Map<string, { base: string; e: number; width: number }>();
  private n = 0;

  constructor(
    private readonly host: ExprHost,
    private readonly indent = '  ',
    /** Variable prefix, distinct per scope so nested scopes do not shadow each other. */
    private readonly prefix = 'v',
    /** Nodes whose value at this kernel's element is already in a variable (a matmul accumulator). */
    private readonly overrides = new Map<number, string>(),
  ) {}

  private emit(expr: string, type?: string): string {
    const hit = this.memo.get(expr);
    if (hit) return hit;
    const v = `${this.prefix}${this.n++}`;
    this.lines.push(`${this.indent}let ${v}${type ? `: ${type}` : ''} = ${expr};`);
    this.memo.set(expr, v);
    return v;
  }

  get body(): string {
    return this.lines.join('\n');
  }

  private u(n: number): string {
    return this.host.sizes.index(n);
  }

  /**
   * `x / d` and `x % d` for x < bound. With sizes in a uniform the divisor is not a constant the
   * shader compiler can turn into a multiply, and a vector integer division is a loop of scalar
   * ones on a CPU: below 2^24 the quotient comes from an f32 reciprocal, corrected to exact
   * (divmod_u24 in kernels/prelude.wgsl).
   */
  private divmod(x: string, d: number, bound: number): [string, string] {
    const key = `${x}|${d}`;
    let qr = this.divMemo.get(key);
    if (qr) return qr;
    const lane = this.lanes.get(x);
    const s = this.host.sizes;
    if (lane) {
      // base is a multiple of width and so is d: base + e has base's quotient, remainder + e.
      if (d % lane.width !== 0) throw new LaneMisaligned(`lane index ${x} divided by ${d}`);
      const [q, r] = this.divmod(lane.base, d, bound);
      qr = [q, this.emit(`${r} + ${lane.e}u`)];
    } else if (s.mode === 'inline') qr = [this.emit(`${x} / ${d}u`), this.emit(`${x} % ${d}u`)];
    else if (bound > 2 ** 24) {
      const du = this.emit(s.index(d));
      qr = [this.emit(`${x} / ${du}`), this.emit(`${x} % ${du}`)];
    } else {
      const t = this.emit(`divmod_u24(${x}, ${s.index(d)}, ${s.rcp(d)})`);
      qr = [`${t}.x`, `${t}.y`];
    }
    this.divMemo.set(key, qr);
    return qr;
  }

  /**
   * Declares `x` the index `base + e` of lane e of a thread that computes `width` consecutive
   * elements from `base` (a multiple of width): its coordinates come from base's, with e added
   * to the last; a division by a size that is not a multiple of width throws LaneMisaligned.
   */
  lane(x: string, base: string, e: number, width: number): this {
    this.lanes.set(x, { base, e, width });
    return this;
  }

  /**
   * Tells the generator that `x / d` is `q` and `x % d` is `r` (variables the kernel already has,
   * such as a matmul's row and column): index maps that divide by d then cost nothing.
   */
  know(x: string, d: number, q: string, r: string): this {
    this.divMemo.set(`${x}|${d}`, [q, r]);
    return this;
  }

  /** Row-major coordinates of flat index `idx` (< numel(shape)) in `shape`, as WGSL u32 expressions. */
  coords(idx: string, shape: Shape): string[] {
    // Peel dimensions off from the last: one division (with its remainder) per dimension; the
    // divisions are memoized, so asking again for the same coordinates emits nothing new.
    const c: string[] = shape.map(() => '0u');
    let q = idx;
    for (let k = shape.length - 1; k >= 1; k--) {
      if (shape[k] === 1) continue;
      const [quot, rem] = this.divmod(q, shape[k], numel(shape));
      c[k] = rem;
      q = quot;
    }
    if (shape.length && shape[0] !== 1) c[0] = q;
    return c;
  }

  /**
   * The flat index `offset + sum_d c_d * strides[d]` of a strided view read at flat index `idx` of
   * `shape` (c = idx's coordinates): broadcast (stride 0), permute, slice. Dimensions of extent 1
   * drop out and neighbours contiguous in the source merge (a bias broadcast over [B, L, D] is
   * one division, not two), so fewer divisions run per element.
   */
  stridedIndex(idx: string, shape: Shape, st: readonly number[], offset = 0): string {
    const dims: { n: number; s: number }[] = [];
    shape.forEach((n, d) => {
      if (n === 1) return;
      const last = dims.at(-1);
      if (last && last.s === st[d] * n) {
        last.n *= n;
        last.s = st[d];
      } else dims.push({ n, s: st[d] });
    });
    if (dims.length === 1 && dims[0].s === 1 && offset === 0) return idx;
    if (dims.every((d) => d.s === 0) && offset === 0) return '0u';
    const c = this.coords(
      idx,
      dims.map((d) => d.n),
    );
    const terms = dims.flatMap((d, k) => (d.s === 0 ? [] : [d.s === 1 ? c[k] : `${c[k]} * ${this.u(d.s)}`]));
    if (offset !== 0) terms.push(this.u(offset));
    return this.emit(terms.join(' + ') || '0u');
  }

  /** Flat index of an input of shape `inShape` broadcast to `outShape`, at output index `idx`. */
  broadcastIndex(idx: string, inShape: Shape, outShape: Shape): string {
    if (numel(inShape) === 1) return '0u';
    if (inShape.length === outShape.length && inShape.every((d, i) => d === outShape[i])) return idx;
    const st = strides(inShape);
    const lead = outShape.length - inShape.length;
    return this.stridedIndex(
      idx,
      outShape,
      outShape.map((_, d) => (d < lead || inShape[d - lead] === 1 ? 0 : st[d - lead])),
    );
  }

  /** WGSL expression (a variable or literal) for node `id` at flat index `idx`. */
  value(id: number, idx: string): string {
    const key = `${id}@${idx}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    const v = this.compute(this.host.graph.get(id), idx);
    this.memo.set(key, v);
    return v;
  }

  private load(n: Node, idx: string): string {
    const arr = this.host.bind(n.id);
    const raw = `${arr}[${idx}]`;
    return this.emit(this.host.storage(n.id) === 'f16' ? `f32(${raw})` : raw);
  }

  private compute(n: Node, idx: string): string {
    const o = this.overrides.get(n.id);
    if (o !== undefined) return o;
    if (n.op === 'const' && numel(n.shape) === 1) return literal(attrsOf(n, 'const').value[0], n.dtype);
    if (this.host.materialized(n.id)) return this.load(n, idx);
    const def = getOp(n.op);
    const g = this.host.graph;
    const ins = n.inputs.map((i) => g.get(i));
    switch (def.kind) {
      case 'unary':
      case 'binary':
      case 'where': {
        if (n.dtype !== 'f32' && n.dtype !== 'f16') throw new Error(`codegen: ${n.op} %${n.id} on ${n.dtype} is not supported on the GPU (compute in f32)`);
        const args = ins.map((x) => this.value(x.id, this.broadcastIndex(idx, x.shape, n.shape)));
        return this.emit(elementwise(n.op, args, n.attrs));
      }
      case 'cast':
        return this.emit(`${computeType(n.dtype)}(${this.value(ins[0].id, idx)})`);
      case 'random': {
        const seed = this.value(ins[0].id, '0u');
        const u = this.emit(`uniform_at(${seed}, ${this.u(attrsOf(n, 'random').salt)}, ${idx})`);
        const r = attrsOf(n, 'random');
        if (r.dist !== 'int') return u;
        const high = this.emit(this.u(r.high ?? 1));
        return this.emit(`min(i32(floor(${u} * f32(${high}))), i32(${high}) - 1i)`);
      }
      case 'index': {
        if (n.op !== 'gather') break;
        const [table, ix] = ins;
        const row = numel(table.shape.slice(1));
        if (row === 1) {
          const r = this.emit(`u32(clamp(i32(${this.value(ix.id, idx)}), 0i, i32(${this.u(table.shape[0])}) - 1i))`);
          return this.value(table.id, r);
        }
        const [k, j] = this.divmod(idx, row, numel(n.shape));
        const r = this.emit(`u32(clamp(i32(${this.value(ix.id, k)}), 0i, i32(${this.u(table.shape[0])}) - 1i))`);
        return this.value(table.id, this.emit(`${r} * ${this.u(row)} + ${j}`));
      }
      case 'layout':
        return this.layout(n, ins, idx);
    }
    throw new Error(`codegen: ${n.op} %${n.id} cannot be inlined into a kernel; it must be materialized`);
  }

  /** The flat index of `coords` in a row-major tensor of `shape`. */
  private flatIndex(coords: string[], shape: Shape): string {
    const st = strides(shape);
    return this.emit(coords.map((c, d) => `${c} * ${this.u(st[d])}`).join(' + '));
  }

  private layout(n: Node, ins: Node[], idx: string): string {
    const x = ins[0];
    switch (n.op) {
      case 'reshape':
        return this.value(x.id, idx);
      case 'broadcast':
        return this.value(x.id, this.broadcastIndex(idx, x.shape, n.shape));
      case 'permute': {
        const st = strides(x.shape);
        const perm = attrsOf(n, 'permute').perm;
        return this.value(
          x.id,
          this.stridedIndex(
            idx,
            n.shape,
            perm.map((p) => st[p]),
          ),
        );
      }
      case 'slice': {
        const st = strides(x.shape);
        const s = attrsOf(n, 'slice').starts;
        return this.value(
          x.id,
          this.stridedIndex(
            idx,
            n.shape,
            st,
            s.reduce((o, si, d) => o + si * st[d], 0),
          ),
        );
      }
      case 'pad': {
        const c = this.coords(idx, n.shape);
        const bf = attrsOf(n, 'pad').before;
        // Clamp into the source so every load stays in bounds; select() discards it outside.
        const before = bf.map((b) => this.emit(this.u(b)));
        const ext = x.shape.map((d) => this.emit(this.u(d)));
        const local = c.map((ci, d) => `min(max(${ci}, ${before[d]}) - ${before[d]}, ${ext[d]} - 1u)`);
        const inside = c.map((ci, d) => `(${ci} >= ${before[d]} && ${ci} < ${before[d]} + ${ext[d]})`).join(' && ');
        const v = this.value(x.id, this.flatIndex(local, x.shape));
        return this.emit(`select(${literal(0, n.dtype)}, ${v}, ${inside})`);
      }
      case 'concat': {
        const axis = attrsOf(n, 'concat').axis;
        const c = this.coords(idx, n.shape);
        let off = 0;
        const parts = ins.map((p) => {
          const start = this.emit(this.u(off));
          const local = c.map((ci, d) => (d === axis ? `min(max(${ci}, ${start}) - ${start}, ${this.u(p.shape[d])} - 1u)` : ci));
          const v = this.value(p.id, this.flatIndex(local, p.shape));
          off += p.shape[axis];
          return { v, start };
        });
        let acc = parts[parts.length - 1].v;
        for (let k = parts.length - 2; k >= 0; k--) acc = this.emit(`select(${acc}, ${parts[k].v}, ${c[axis]} < ${parts[k + 1].start})`);
        return acc;
      }
    }
    throw new Error(`codegen: no index map for layout op ${n.op}`);
  }
}
