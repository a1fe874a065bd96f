/**
 * Kernel generation: one WGSL module per fusion group, from the templates in kernels/.
 * Bindings are the group's reads in order, then `out`.
 */
import { numel, type Graph, type Node } from '../ir/graph.ts';
import { strides } from '../ir/value.ts';
import { matmulDims } from '../ops/matmul.ts';
import { getOp } from '../ops/index.ts';
import { RANDOM_WGSL } from '../ops/random.ts';
import type { Group, KernelKind } from '../passes/fuse.ts';
import { ExprGen, type ExprHost } from './expr.ts';
import { render, template } from './template.ts';
import { bindingDecls, grid, literal, WORKGROUP, type Binding, type Storage } from './wgsl.ts';

export type MatmulVariant =
  | { family: 'reg'; tm: number; tn: number; wgx: number; wgy: number }
  /** vec4 loads of B: needs N % 4 == 0 and B not transposed (falls back to 'reg' otherwise). */
  | { family: 'reg4'; tm: number; tn4: number; wgx: number; wgy: number }
  | { family: 'tiled' };

export interface KernelSpec {
  name: string;
  kind: KernelKind;
  root: number;
  nodes: number[];
  /** Node ids bound in order as bindings 0..n-1; the output is binding n. */
  reads: number[];
  wgsl: string;
  workgroups: [number, number, number];
  variant?: MatmulVariant;
}

export interface CodegenContext {
  graph: Graph;
  /** Element type of each materialized node's buffer (f16 where activations are half-stored). */
  storage(id: number): Storage;
  maxWorkgroupsPerDim: number;
  isMaterialized(id: number): boolean;
  /** Graph outputs own exact-size buffers. */
  isOutput(id: number): boolean;
  matmulVariant(n: Node): MatmulVariant;
}

/** Prelude for a kernel whose bindings are `decls`: `enable f16` only where a buffer is half. */
function header(decls: string): string {
  return `${decls.includes('array<f16>') ? 'enable f16;\n' : ''}${template('prelude')}\n${RANDOM_WGSL}\n`;
}

/** Binds a group's reads in order and serves ExprGen's loads from them. */
class Bindings {
  readonly list: Binding[] = [];
  private readonly names = new Map<number, string>();
  constructor(
    readonly ctx: CodegenContext,
    readonly reads: number[],
  ) {
    reads.forEach((id, k) => {
      this.names.set(id, `in${k}`);
      this.list.push({ name: `in${k}`, storage: ctx.storage(id), write: false });
    });
  }
  bind(id: number): string {
    const name = this.names.get(id);
    if (!name) throw new Error(`codegen: %${id} is read but not bound`);
    return name;
  }
  /** An ExprGen host; `inline` nodes are computed in the kernel even if they own a buffer. */
  host(inline: (id: number) => boolean = () => false): ExprHost {
    return {
      graph: this.ctx.graph,
      storage: (id) => this.ctx.storage(id),
      bind: (id) => this.bind(id),
      materialized: (id) => !inline(id) && this.ctx.isMaterialized(id),
    };
  }
  decls(out: Node): string {
    return bindingDecls([...this.list, { name: 'out', storage: this.ctx.storage(out.id), write: true }]);
  }
}

/** The value written to `out`: narrowed when the output buffer is half. */
function store(ctx: CodegenContext, out: Node, v: string): string {
  return ctx.storage(out.id) === 'f16' ? `f16(${v})` : v;
}

function sameShapeElementwise(g: Graph, nodes: number[], reads: number[], root: Node): boolean {
  const same = (id: number) => g.get(id).shape.join() === root.shape.join();
  const ew = new Set(['unary', 'binary', 'where', 'cast']);
  return nodes.every((id) => same(id) && ew.has(getOp(g.get(id).op).kind)) && reads.every((id) => same(id) || numel(g.get(id).shape) === 1);
}

/** Header + rendered template. */
function kernelSource(decls: string, name: string, vars: Record<string, string | number>): string {
  return header(decls) + render(name, { ...vars, BINDINGS: decls });
}

export function generateKernel(ctx: CodegenContext, group: Group): KernelSpec {
  const root = ctx.graph.get(group.root);
  const name = `${group.kind}_${root.op}_${root.id}${root.scope ? `_${root.scope.replace(/[^A-Za-z0-9]+/g, '_')}` : ''}`;
  const b = new Bindings(ctx, group.reads);
  const base = { name, kind: group.kind, root: root.id, nodes: group.nodes, reads: group.reads };
  switch (group.kind) {
    case 'map': {
      const n = numel(root.shape);
      const { workgroups, row } = grid(n, ctx.maxWorkgroupsPerDim);
      // The root itself is computed inline, though it owns the output buffer.
      const gen = new ExprGen(b.host((id) => id === root.id));
      const v = gen.value(root.id, 'i');
      // A same-shape elementwise kernel writing a graph output (an exact-size buffer) takes its
      // bound from the buffer, so its source does not depend on the size: the optimizer's update
      // of every param of one kind shares one shader (one compile, which lavapipe does lazily).
      const sizeFree = ctx.isOutput(root.id) && workgroups[1] === 1 && sameShapeElementwise(ctx.graph, group.nodes, group.reads, root);
      const N = sizeFree ? 'arrayLength(&out)' : `${n}u`;
      const wgsl = kernelSource(b.decls(root), 'map', { WG: WORKGROUP, ROW: sizeFree ? '0u' : `${row}u`, N, BODY: gen.body, RESULT: store(ctx, root, v) });
      return { ...base, wgsl, workgroups };
    }
    case 'reduce':
      return { ...base, ...reduceKernel(ctx, b, root) };
    case 'scatter':
      return { ...base, ...scatterKernel(ctx, b, root) };
    case 'row':
      return { ...base, ...rowKernel(ctx, b, root, group.nodes) };
    case 'matmul':
      return { ...base, ...matmulKernel(ctx, b, group.core !== undefined ? ctx.graph.get(group.core) : root, root) };
  }
}

function reduceKernel(ctx: CodegenContext, b: Bindings, root: Node) {
  const x = ctx.graph.get(root.inputs[0]);
  const axes = root.attrs.axes as number[];
  const keep = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const red = axes.map((a) => x.shape[a]);
  const st = strides(x.shape);
  const n = numel(root.shape);
  const { workgroups, row } = grid(n, ctx.maxWorkgroupsPerDim);
  const host = b.host();
  const pre = new ExprGen(host, '  ');
  const oc = pre.coords('o', keep);
  const baseTerms = oc.flatMap((c, d) => (axes.includes(d) || keep[d] === 1 ? [] : [`${c} * ${st[d]}u`]));
  pre.lines.push(`  let base = ${baseTerms.join(' + ') || '0u'};`);
  const body = new ExprGen(host, '    ', 'w');
  const rc = body.coords('r', red);
  const offTerms = rc.flatMap((c, j) => (red[j] === 1 ? [] : [`${c} * ${st[axes[j]]}u`]));
  body.lines.push(`    let i = base + ${offTerms.join(' + ') || '0u'};`);
  const v = body.value(x.id, 'i');
  const isMax = root.op === 'max_reduce';
  const wgsl = kernelSource(b.decls(root), 'reduce', {
    WG: WORKGROUP,
    ROW: `${row}u`,
    N: n,
    PRE: pre.body,
    INIT: isMax ? literal(-Infinity, 'f32') : '0.0',
    R: numel(red),
    BODY: body.body,
    COMBINE: isMax ? `max(acc, ${v})` : `acc + ${v}`,
    STORE: store(ctx, root, 'acc'),
  });
  return { wgsl, workgroups };
}

function rowKernel(ctx: CodegenContext, b: Bindings, root: Node, nodes: number[]) {
  const C = root.shape[root.shape.length - 1];
  const rows = numel(root.shape) / C;
  const { workgroups, row } = grid(rows, ctx.maxWorkgroupsPerDim);
  const overrides = new Map<number, string>();
  const host = b.host((id) => nodes.includes(id));
  const lines: string[] = [];
  const members = nodes.map((id) => ctx.graph.get(id));
  const reduces = members.filter((n) => n.op === 'sum' || n.op === 'max_reduce');
  const scalars = members.filter((n) => n.id !== root.id && !reduces.includes(n) && n.shape[n.shape.length - 1] === 1 && C !== 1);
  // Per-row scalars whose reductions are done are computed once, outside the element loops.
  const hoist = (k: number) => {
    const outer = new ExprGen(host, '  ', `s${k}_`, overrides);
    for (const n of scalars) {
      if (overrides.has(n.id)) continue;
      const deps = reduces.filter((r) => r.id < n.id);
      if (!deps.every((r) => overrides.has(r.id)) || reduces.some((r) => r.id > n.id && dependsOn(ctx.graph, n.id, r.id))) continue;
      overrides.set(n.id, outer.value(n.id, 'row'));
    }
    lines.push(outer.body);
  };
  reduces.forEach((r, k) => {
    hoist(k);
    const isMax = r.op === 'max_reduce';
    const body = new ExprGen(host, '    ', `r${k}_`, overrides);
    body.lines.push(`    let i = row * ${C}u + j;`);
    const v = body.value(r.inputs[0], 'i');
    lines.push(
      `  var acc${k}: f32 = ${isMax ? literal(-Infinity, 'f32') : '0.0'};`,
      `  for (var j = 0u; j < ${C}u; j++) {`,
      body.body,
      `    acc${k} = ${isMax ? `max(acc${k}, ${v})` : `acc${k} + ${v}`};`,
      '  }',
    );
    overrides.set(r.id, `acc${k}`);
  });
  hoist(reduces.length);
  const gen = new ExprGen(host, '    ', 'v', overrides);
  const v = gen.value(root.id, 'i');
  const wgsl = kernelSource(b.decls(root), 'row', { WG: WORKGROUP, ROW: `${row}u`, ROWS: rows, C, REDUCTIONS: lines.filter(Boolean).join('\n'), BODY: gen.body, RESULT: store(ctx, root, v) });
  return { wgsl, workgroups };
}

/** Whether node `a` depends on node `b`. */
function dependsOn(g: Graph, a: number, b: number): boolean {
  const stack = [a];
  const seen = new Set<number>();
  while (stack.length) {
    const id = stack.pop()!;
    if (id === b) return true;
    if (id < b || seen.has(id)) continue;
    seen.add(id);
    stack.push(...g.get(id).inputs);
  }
  return false;
}

function scatterKernel(ctx: CodegenContext, b: Bindings, root: Node) {
  const [idx, upd] = root.inputs.map((i) => ctx.graph.get(i));
  const rowLen = numel(root.shape.slice(1));
  const n = numel(root.shape);
  const { workgroups, row } = grid(n, ctx.maxWorkgroupsPerDim);
  const body = new ExprGen(b.host(), '      ');
  const v = body.value(upd.id, 'i');
  const wgsl = kernelSource(b.decls(root), 'scatter_add', {
    WG: WORKGROUP,
    ROW: `${row}u`,
    N: n,
    ROWLEN: rowLen,
    NIDX: numel(idx.shape),
    IDX: b.bind(idx.id),
    BODY: body.body,
    VALUE: v,
    STORE: store(ctx, root, 'acc'),
  });
  return { wgsl, workgroups };
}

/** `mm` is the matmul; `root` the node the kernel writes (mm itself, or the end of its epilogue). */
function matmulKernel(ctx: CodegenContext, b: Bindings, mm: Node, root: Node) {
  const [A, B] = mm.inputs.map((i) => ctx.graph.get(i));
  const { M, K, N, batch } = matmulDims(A.shape, B.shape, mm.attrs, 'matmul');
  const { transA, transB } = mm.attrs as { transA: boolean; transB: boolean };
  // The store: the accumulator, or the fused epilogue evaluated on it at flat index o.
  const storeCode = (acc: string, indent: string) => {
    if (mm === root) return `${indent}out[o] = ${store(ctx, root, acc)};`;
    const epi = new ExprGen(
      b.host((id) => id === root.id),
      indent,
      'e',
      new Map([[mm.id, acc]]),
    );
    const v = epi.value(root.id, 'o');
    return `${epi.body}\n${indent}out[o] = ${store(ctx, root, v)};`;
  };
  const a = b.bind(A.id);
  const bb = b.bind(B.id);
  const gen = new ExprGen(b.host(), '  ');
  const aBatch = gen.broadcastIndex('p', A.shape.slice(0, -2), batch);
  const bBatch = gen.broadcastIndex('p', B.shape.slice(0, -2), batch);
  gen.lines.push(`  let aOff = ${aBatch} * ${M * K}u;`, `  let bOff = ${bBatch} * ${K * N}u;`);
  const ld = (arr: string, id: number, idx: string) => (ctx.storage(id) === 'f16' ? `f32(${arr}[${idx}])` : `${arr}[${idx}]`);
  const LOAD_A = ld(a, A.id, transA ? 'aOff + k * M + r' : 'aOff + r * K + k');
  const LOAD_B = ld(bb, B.id, transB ? 'bOff + c * K + k' : 'bOff + k * N + c');
  let variant = ctx.matmulVariant(mm);
  if (variant.family === 'reg4' && (N % 4 !== 0 || transB || ctx.storage(B.id) !== 'f32')) {
    variant = { family: 'reg', tm: variant.tm, tn: 4, wgx: variant.wgx, wgy: variant.wgy };
  }
  const nb = numel(batch);
  if (nb > ctx.maxWorkgroupsPerDim) throw new Error(`matmul %${mm.id}: batch of ${nb} exceeds ${ctx.maxWorkgroupsPerDim} workgroups`);
  const decls = b.decls(root);
  const common = { M, N, K, BATCH: gen.body, LOAD_A, LOAD_B };
  let wgsl: string;
  let workgroups: [number, number, number];
  if (variant.family === 'reg4') {
    const { tm, tn4, wgx, wgy } = variant;
    // B is re-declared as an array of vec4s; the binding index stays the same.
    const decls4 = decls.replace(`var<storage, read> ${bb}: array<f32>;`, `var<storage, read> ${bb}: array<vec4<f32>>;`);
    const { LOAD_B: _scalarB, ...rest } = common;
    wgsl = kernelSource(decls4, 'matmul_reg4', { ...rest, B4: bb, N4: N / 4, TM: tm, TN4: tn4, WGX: wgx, WGY: wgy, STORE: storeCode('acc[i][j][e]', '          ') });
    workgroups = [Math.ceil(N / 4 / tn4 / wgx), Math.ceil(M / tm / wgy), nb];
  } else if (variant.family === 'reg') {
    const { tm, tn, wgx, wgy } = variant;
    wgsl = kernelSource(decls, 'matmul_reg', { ...common, TM: tm, TN: tn, WGX: wgx, WGY: wgy, STORE: storeCode('acc[i][j]', '        ') });
    workgroups = [Math.ceil(N / tn / wgx), Math.ceil(M / tm / wgy), nb];
  } else {
    wgsl = kernelSource(decls, 'matmul_tiled', { ...common, STORE: storeCode('acc[i][j]', '        ') });
    workgroups = [Math.ceil(N / 64), Math.ceil(M / 64), nb];
  }
  return { wgsl, workgroups, variant };
}
