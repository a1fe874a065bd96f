/**
 * Lowering of a fusion group to its kernel description (kernel/ir.ts): the value of the group's
 * root at a flat index, as an expression over the kernel's index variables. Elementwise, layout,
 * gather and random nodes are inlined; a node with a buffer becomes a load. Layout ops become
 * index arithmetic on the shapes, so a broadcast, a transpose or a slice inside a group costs no
 * memory traffic.
 */
import { isLayoutOp, type LayoutOp } from '../ir/op-names.ts';
import { numel, type Graph, type Node, type Shape } from '../ir/graph.ts';
import { strides } from '../ir/value.ts';
import { getOp } from '../ops/index.ts';
import type { RowExpr } from '../ops/table.ts';
import { attrsOf } from '../ir/attrs.ts';
import { matmulDims } from '../ops/matmul.ts';
import type { Group } from '../passes/fuse.ts';
import { KBuilder, type KExpr, type Kernel, type KernelShape, type KVar } from './ir.ts';

export interface DescribeContext {
  graph: Graph;
  /** True where the node's value lives in a buffer. */
  isMaterialized(id: number): boolean;
}

/** The kernel description of one fusion group. */
export function describeGroup(ctx: DescribeContext, group: Group): Kernel {
  const kb = new KBuilder();
  const root = ctx.graph.get(group.root);
  const shape = ((): KernelShape => {
    switch (group.kind) {
      case 'map': {
        // The outputs, and siblings' inputs among them, are computed here, not loaded.
        const inline = new Set(group.nodes);
        return mapKernel(new IndexMaps(kb, ctx, (id) => inline.has(id)), root, group.siblings ?? []);
      }
      case 'reduce':
        return reduceKernel(new IndexMaps(kb, ctx), root);
      case 'scatter':
        return scatterKernel(new IndexMaps(kb, ctx), root);
      case 'row':
        return rowKernel(new IndexMaps(kb, ctx, (id) => group.nodes.includes(id)), root, group.nodes);
      case 'matmul':
        return matmulKernel(kb, ctx, group.core !== undefined ? ctx.graph.get(group.core) : root, root);
    }
  })();
  return { ...shape, out: root.id, reads: group.reads };
}

function mapKernel(L: IndexMaps, root: Node, siblings: number[]): KernelShape {
  const i = L.kb.var('i');
  return {
    kind: 'map',
    n: numel(root.shape),
    value: L.value(root.id, i),
    siblings: siblings.map((out) => ({ out, value: L.value(out, i) })),
  };
}

function reduceKernel(L: IndexMaps, root: Node): KernelShape {
  const x = L.graph.get(root.inputs[0]);
  const axes = attrsOf(root, 'sum', 'max_reduce').axes;
  const keep = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const red = axes.map((a) => x.shape[a]);
  const st = strides(x.shape);
  const { kb } = L;
  // Flat index of x: the output's base (invariant in the loop) plus the reduced position's offset.
  const base = L.stridedIndex(kb.var('o'), keep, st);
  const inner = L.stridedIndex(
    kb.var('r'),
    red,
    axes.map((a) => st[a]),
  );
  return {
    kind: 'reduce',
    n: numel(root.shape),
    R: numel(red),
    reduce: getOp(root.op).reduce!,
    value: L.value(x.id, kb.add([base, inner])),
  };
}

function rowKernel(L: IndexMaps, root: Node, nodes: number[]): KernelShape {
  const C = root.shape[root.shape.length - 1];
  const { kb } = L;
  const row = kb.var('row');
  const j = kb.var('j');
  const i = kb.add([kb.mul(row, kb.size(C)), j]);
  L.know(i, C, row, j);
  const def = getOp(root.op).row;
  if (def) {
    // A row primitive (softmax, the norms): its passes are data in the op table.
    const passes = typeof def === 'function' ? def(root.attrs, C) : def;
    const x = L.value(root.inputs[0], i);
    const y = root.inputs[1] !== undefined ? L.value(root.inputs[1], i) : null;
    const expr = (e: RowExpr): KExpr => {
      if (e === 'x') return x;
      if (e === 'y') {
        if (!y) throw new Error(`row op '${root.op}' reads 'y' but has one input`);
        return y;
      }
      if (typeof e === 'number') return kb.const(e, 'f32');
      if (typeof e === 'string') return kb.var(e as KVar);
      return kb.make(
        'math',
        { name: e[0], attrs: {} },
        e.slice(1).map((a) => expr(a as RowExpr)),
        'f32',
      );
    };
    const reductions = passes.reductions.map((r) => ({ reduce: getOp(r.reduce).reduce!, value: expr(r.value) }));
    return { kind: 'row', rows: numel(root.shape) / C, C, reductions, value: expr(passes.value) };
  }
  const reductions = nodes
    .map((id) => L.graph.get(id))
    .filter((n) => getOp(n.op).reduce)
    .map((r, k) => {
      const value = L.value(r.inputs[0], i);
      // Later reductions and the row's output read this one's result.
      L.overrides.set(r.id, kb.var(`acc${k}`));
      return { reduce: getOp(r.op).reduce!, value };
    });
  return { kind: 'row', rows: numel(root.shape) / C, C, reductions, value: L.value(root.id, i) };
}

function scatterKernel(L: IndexMaps, root: Node): KernelShape {
  const [idx, upd] = root.inputs.map((i) => L.graph.get(i));
  return {
    kind: 'scatter',
    n: numel(root.shape),
    rowLen: numel(root.shape.slice(1)),
    indices: idx.id,
    nIdx: numel(idx.shape),
    value: L.value(upd.id, L.kb.var('i')),
  };
}

/**
 * Whether matmul `mm` runs as one unbatched matmul: a batch of A's under one shared B (a weight
 * under [B, L, K] activations) is one matmul of batch x M rows. Row-major A and C are the same
 * memory either way, and whole tiles of rows replace a partial tile per batch element (65 or 17
 * rows per example). Same sums per output.
 */
export function foldsBatch(g: Graph, mm: Node): boolean {
  const [A, B] = mm.inputs.map((i) => g.get(i));
  const flags = attrsOf(mm, 'matmul');
  const batch = mm.shape.slice(0, -2);
  return (
    !flags.transA &&
    numel(B.shape.slice(0, -2)) === 1 &&
    numel(A.shape.slice(0, -2)) === numel(batch) &&
    batch.length > 0
  );
}

/** `mm` is the matmul; `root` the node the kernel writes (mm itself, or the end of its epilogue). */
function matmulKernel(kb: KBuilder, ctx: DescribeContext, mm: Node, root: Node): KernelShape {
  const [A, B] = mm.inputs.map((i) => ctx.graph.get(i));
  const flags = attrsOf(mm, 'matmul');
  const shape = matmulDims(A.shape, B.shape, flags, 'matmul');
  const fold = foldsBatch(ctx.graph, mm);
  const { K, N } = shape;
  const M = fold ? shape.M * numel(shape.batch) : shape.M;
  const batch = fold ? [] : shape.batch;
  const L = new IndexMaps(kb, ctx, (id) => id === root.id, new Map([[mm.id, kb.var('acc')]]));
  const p = kb.var('p');
  const operand = (x: Node, trans: boolean) => ({
    buf: x.id,
    trans,
    batch: fold ? kb.const(0, 'u32') : L.broadcastIndex(p, x.shape.slice(0, -2), batch),
  });
  const a = operand(A, flags.transA);
  const b = operand(B, flags.transB);
  // o = (p * M + r) * N + c: the epilogue's index maps get p, r and c without dividing.
  const o = kb.var('o');
  L.know(o, N, kb.var('pr'), kb.var('c'));
  L.know(o, M * N, p, kb.var('rc'));
  L.know(kb.var('pr'), M, p, kb.var('r'));
  const epilogue = mm === root ? null : L.value(root.id, o);
  return { kind: 'matmul', M, N, K, batch, a, b, epilogue };
}

/** Index maps and inlining of one kernel's nodes, memoized per (node, index). */
class IndexMaps {
  readonly graph: Graph;
  /** Quotients and remainders known without dividing, by dividend and divisor. */
  private readonly facts = new Map<string, [KExpr, KExpr]>();
  private readonly memo = new Map<string, KExpr>();

  constructor(
    readonly kb: KBuilder,
    private readonly ctx: DescribeContext,
    /** Nodes computed in the kernel even though they own a buffer (the root, a row's members). */
    private readonly inline: (id: number) => boolean = () => false,
    /** Nodes whose value at the kernel's element is a variable (a matmul's accumulator). */
    readonly overrides = new Map<number, KExpr>(),
  ) {
    this.graph = ctx.graph;
  }

  /** States that `x / d` is `q` and `x % d` is `r`: index maps dividing x by d then divide nothing. */
  know(x: KExpr, d: number, q: KExpr, r: KExpr): void {
    this.facts.set(`${x.id}|${d}`, [q, r]);
  }

  private divmod(x: KExpr, d: number, bound: number): [KExpr, KExpr] {
    const known = this.facts.get(`${x.id}|${d}`);
    if (known) return known;
    return [this.kb.make('div', { d, bound }, [x], 'u32'), this.kb.make('mod', { d, bound }, [x], 'u32')];
  }

  /** Row-major coordinates of flat index `idx` (< numel(shape)) in `shape`. */
  coords(idx: KExpr, shape: Shape): KExpr[] {
    // Peel dimensions off from the last: one division (with its remainder) per dimension.
    const zero = this.kb.const(0, 'u32');
    const c: KExpr[] = shape.map(() => zero);
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
   * one division, not two).
   */
  stridedIndex(idx: KExpr, shape: Shape, st: readonly number[], offset = 0): KExpr {
    const kb = this.kb;
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
    if (dims.every((d) => d.s === 0) && offset === 0) return kb.const(0, 'u32');
    const c = this.coords(
      idx,
      dims.map((d) => d.n),
    );
    const terms = dims.flatMap((d, k) => (d.s === 0 ? [] : [d.s === 1 ? c[k] : kb.mul(c[k], kb.size(d.s))]));
    if (offset !== 0) terms.push(kb.size(offset));
    return kb.add(terms);
  }

  /** Flat index of an input of shape `inShape` broadcast to `outShape`, at output index `idx`. */
  broadcastIndex(idx: KExpr, inShape: Shape, outShape: Shape): KExpr {
    if (numel(inShape) === 1) return this.kb.const(0, 'u32');
    if (inShape.length === outShape.length && inShape.every((d, i) => d === outShape[i])) return idx;
    const st = strides(inShape);
    const lead = outShape.length - inShape.length;
    return this.stridedIndex(
      idx,
      outShape,
      outShape.map((_, d) => (d < lead || inShape[d - lead] === 1 ? 0 : st[d - lead])),
    );
  }

  /** The value of node `id` at flat index `idx`. */
  value(id: number, idx: KExpr): KExpr {
    const key = `${id}@${idx.id}`;
    let v = this.memo.get(key);
    if (!v) {
      v = this.compute(this.graph.get(id), idx);
      this.memo.set(key, v);
    }
    return v;
  }

  private compute(n: Node, idx: KExpr): KExpr {
    const kb = this.kb;
    const o = this.overrides.get(n.id);
    if (o !== undefined) return o;
    if (n.op === 'const' && numel(n.shape) === 1) return kb.const(attrsOf(n, 'const').value[0], n.dtype);
    if (!this.inline(n.id) && this.ctx.isMaterialized(n.id))
      return kb.make('load', { buf: n.id }, [idx], n.dtype === 'i32' || n.dtype === 'u32' ? n.dtype : 'f32');
    const def = getOp(n.op);
    const ins = n.inputs.map((i) => this.graph.get(i));
    switch (def.kind) {
      case 'unary':
      case 'binary':
      case 'where': {
        // Kernels compute in f32 (half storage widens on load).
        if (n.dtype !== 'f32' && n.dtype !== 'f16')
          throw new Error(`kernel: ${n.op} %${n.id} on ${n.dtype} is not supported (compute in f32)`);
        const args = ins.map((x) => this.value(x.id, this.broadcastIndex(idx, x.shape, n.shape)));
        return kb.make('math', { name: n.op, attrs: n.attrs }, args, 'f32');
      }
      case 'cast':
        return kb.make(
          'cast',
          { dtype: n.dtype },
          [this.value(ins[0].id, idx)],
          n.dtype === 'i32' || n.dtype === 'u32' ? n.dtype : 'f32',
        );
      case 'random': {
        const r = attrsOf(n, 'random');
        const u = kb.make('uniform', { salt: r.salt }, [this.value(ins[0].id, kb.const(0, 'u32')), idx], 'f32');
        return r.dist === 'int' ? kb.make('randint', { high: r.high ?? 1 }, [u], 'i32') : u;
      }
      case 'index': {
        if (n.op !== 'gather') break;
        const [table, ix] = ins;
        const row = numel(table.shape.slice(1));
        const rows = table.shape[0];
        if (row === 1) return this.value(table.id, kb.make('rowOf', { rows }, [this.value(ix.id, idx)], 'u32'));
        const [k, j] = this.divmod(idx, row, numel(n.shape));
        const r = kb.make('rowOf', { rows }, [this.value(ix.id, k)], 'u32');
        return this.value(table.id, kb.add([kb.mul(r, kb.size(row)), j]));
      }
      case 'layout':
        return this.layout(n, ins, idx);
    }
    throw new Error(`kernel: ${n.op} %${n.id} cannot be inlined into a kernel; it must be materialized`);
  }

  /** The flat index of `coords` in a row-major tensor of `shape`. */
  flatIndex(coords: KExpr[], shape: Shape): KExpr {
    const st = strides(shape);
    return this.kb.add(coords.map((c, d) => this.kb.mul(c, this.kb.size(st[d]))));
  }

  private layout(n: Node, ins: Node[], idx: KExpr): KExpr {
    if (!isLayoutOp(n.op)) throw new Error(`kernel: ${n.op} %${n.id} is no layout op`);
    return LAYOUT_INDEX[n.op](this, n, ins, idx);
  }
}

/** Where a layout op's output element `idx` reads its input(s): one index map per layout op, kept complete by tsc. */
const LAYOUT_INDEX: { [K in LayoutOp]: (m: IndexMaps, n: Node, ins: Node[], idx: KExpr) => KExpr } = {
  reshape: (m, _n, [x], idx) => m.value(x.id, idx),
  broadcast: (m, n, [x], idx) => m.value(x.id, m.broadcastIndex(idx, x.shape, n.shape)),
  permute: (m, n, [x], idx) => {
    const st = strides(x.shape);
    return m.value(
      x.id,
      m.stridedIndex(
        idx,
        n.shape,
        attrsOf(n, 'permute').perm.map((p) => st[p]),
      ),
    );
  },
  slice: (m, n, [x], idx) => {
    const st = strides(x.shape);
    const s = attrsOf(n, 'slice').starts;
    return m.value(
      x.id,
      m.stridedIndex(
        idx,
        n.shape,
        st,
        s.reduce((o, si, d) => o + si * st[d], 0),
      ),
    );
  },
  pad: (m, n, [x], idx) => {
    const kb = m.kb;
    const c = m.coords(idx, n.shape);
    const bf = attrsOf(n, 'pad').before;
    // Clamped into the source so every load stays in bounds; the select discards it outside.
    const local = c.map((ci, d) => kb.make('clampSub', { lo: bf[d], n: x.shape[d] }, [ci], 'u32'));
    const inside = kb.make(
      'and',
      {},
      c.map((ci, d) => kb.make('inRange', { lo: bf[d], n: x.shape[d] }, [ci], 'bool')),
      'bool',
    );
    const v = m.value(x.id, m.flatIndex(local, x.shape));
    return kb.make('select', {}, [inside, v, kb.const(0, n.dtype)], v.ty);
  },
  concat: (m, n, ins, idx) => {
    const kb = m.kb;
    const axis = attrsOf(n, 'concat').axis;
    const c = m.coords(idx, n.shape);
    let off = 0;
    const parts = ins.map((p) => {
      const local = c.map((ci, d) => (d === axis ? kb.make('clampSub', { lo: off, n: p.shape[d] }, [ci], 'u32') : ci));
      const part = { v: m.value(p.id, m.flatIndex(local, p.shape)), start: off };
      off += p.shape[axis];
      return part;
    });
    let acc = parts[parts.length - 1].v;
    for (let k = parts.length - 2; k >= 0; k--)
      acc = kb.make(
        'select',
        {},
        [kb.make('below', { n: parts[k + 1].start }, [c[axis]], 'bool'), parts[k].v, acc],
        acc.ty,
      );
    return acc;
  },
};
