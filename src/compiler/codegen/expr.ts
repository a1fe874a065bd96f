/**
 * The expression generator behind every fused kernel: emits WGSL that computes the element of
 * node `id` at flat index `idx`, inlining elementwise, layout, gather and random ops and loading
 * from a buffer where a node is materialized. Layout ops become index arithmetic on static
 * shapes, so a broadcast, a transpose or a slice inside a group costs no memory traffic.
 */
import { numel, type Graph, type Node, type Shape } from '../ir/graph.ts';
import { strides } from '../ir/value.ts';
import { getOp } from '../ops/index.ts';
import { computeType, literal, type Storage } from './wgsl.ts';

export interface ExprHost {
  graph: Graph;
  /** True where the node's value lives in a buffer. */
  materialized(id: number): boolean;
  /** Name of the storage array holding node `id` (registers the binding). */
  bind(id: number): string;
  /** Element type of node `id`'s buffer: half-stored values are widened to f32 on load. */
  storage(id: number): Storage;
}

export class ExprGen {
  readonly lines: string[] = [];
  private readonly memo = new Map<string, string>();
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

  /** Row-major coordinates of flat index `idx` in `shape`, as WGSL u32 expressions. */
  coords(idx: string, shape: Shape): string[] {
    const st = strides(shape);
    return shape.map((d, k) => {
      if (d === 1) return '0u';
      const q = st[k] === 1 ? idx : `(${idx} / ${st[k]}u)`;
      return this.emit(k === 0 ? q : `${q} % ${d}u`);
    });
  }

  /** Flat index of an input of shape `inShape` broadcast to `outShape`, at output index `idx`. */
  broadcastIndex(idx: string, inShape: Shape, outShape: Shape): string {
    if (numel(inShape) === 1) return '0u';
    if (inShape.length === outShape.length && inShape.every((d, i) => d === outShape[i])) return idx;
    const c = this.coords(idx, outShape);
    const st = strides(inShape);
    const lead = outShape.length - inShape.length;
    const terms = inShape.flatMap((d, j) => (d === 1 ? [] : [st[j] === 1 ? c[lead + j] : `${c[lead + j]} * ${st[j]}u`]));
    return this.emit(terms.join(' + ') || '0u');
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
    if (n.op === 'const' && numel(n.shape) === 1) return literal((n.attrs.value as number[])[0], n.dtype);
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
        return this.emit(def.wgsl!(args, n.attrs));
      }
      case 'cast':
        return this.emit(`${computeType(n.dtype)}(${this.value(ins[0].id, idx)})`);
      case 'random': {
        const seed = this.value(ins[0].id, '0u');
        const u = this.emit(`uniform_at(${seed}, ${n.attrs.salt as number}u, ${idx})`);
        return n.attrs.dist === 'int' ? this.emit(`min(i32(floor(${u} * ${n.attrs.high as number}.0)), ${(n.attrs.high as number) - 1}i)`) : u;
      }
      case 'index': {
        if (n.op !== 'gather') break;
        const [table, ix] = ins;
        const row = numel(table.shape.slice(1));
        const k = row === 1 ? idx : this.emit(`${idx} / ${row}u`);
        const r = this.emit(`u32(clamp(i32(${this.value(ix.id, k)}), 0i, ${table.shape[0] - 1}i))`);
        return this.value(table.id, this.emit(row === 1 ? r : `${r} * ${row}u + ${idx} % ${row}u`));
      }
      case 'layout':
        return this.layout(n, ins, idx);
    }
    throw new Error(`codegen: ${n.op} %${n.id} cannot be inlined into a kernel; it must be materialized`);
  }

  private layout(n: Node, ins: Node[], idx: string): string {
    const x = ins[0];
    const a = n.attrs;
    switch (n.op) {
      case 'reshape':
        return this.value(x.id, idx);
      case 'broadcast':
        return this.value(x.id, this.broadcastIndex(idx, x.shape, n.shape));
      case 'permute': {
        const c = this.coords(idx, n.shape);
        const st = strides(x.shape);
        const perm = a.perm as number[];
        const terms = c.flatMap((ci, d) => (n.shape[d] === 1 ? [] : [`${ci} * ${st[perm[d]]}u`]));
        return this.value(x.id, this.emit(terms.join(' + ') || '0u'));
      }
      case 'slice': {
        const c = this.coords(idx, n.shape);
        const st = strides(x.shape);
        const s = a.starts as number[];
        const terms = c.map((ci, d) => `(${ci} + ${s[d]}u) * ${st[d]}u`);
        return this.value(x.id, this.emit(terms.join(' + ')));
      }
      case 'pad': {
        const c = this.coords(idx, n.shape);
        const st = strides(x.shape);
        const bf = a.before as number[];
        // Clamp into the source so every load stays in bounds; select() discards it outside.
        const local = c.map((ci, d) => `min(max(${ci}, ${bf[d]}u) - ${bf[d]}u, ${x.shape[d] - 1}u)`);
        const inside = c.map((ci, d) => `(${ci} >= ${bf[d]}u && ${ci} < ${bf[d] + x.shape[d]}u)`).join(' && ');
        const v = this.value(x.id, this.emit(local.map((l, d) => `${l} * ${st[d]}u`).join(' + ')));
        return this.emit(`select(${literal(0, n.dtype)}, ${v}, ${inside})`);
      }
      case 'concat': {
        const axis = a.axis as number;
        const c = this.coords(idx, n.shape);
        let off = 0;
        const parts = ins.map((p) => {
          const st = strides(p.shape);
          const local = c.map((ci, d) => (d === axis ? `min(max(${ci}, ${off}u) - ${off}u, ${p.shape[d] - 1}u)` : ci));
          const v = this.value(p.id, this.emit(local.map((l, d) => `${l} * ${st[d]}u`).join(' + ')));
          const start = off;
          off += p.shape[axis];
          return { v, start };
        });
        let acc = parts[parts.length - 1].v;
        for (let k = parts.length - 2; k >= 0; k--) acc = this.emit(`select(${acc}, ${parts[k].v}, ${c[axis]} < ${parts[k + 1].start}u)`);
        return acc;
      }
    }
    throw new Error(`codegen: no index map for layout op ${n.op}`);
  }
}
