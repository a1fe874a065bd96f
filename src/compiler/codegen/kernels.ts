/**
 * Kernel generation: one WGSL module per fusion group, from the templates in kernels/.
 * Bindings are the group's reads in order, then `out`.
 */
import { numel, type Graph, type Node } from '../ir/graph.ts';
import { strides } from '../ir/value.ts';
import { matmulDims } from '../ops/matmul.ts';
import type { Group, KernelKind } from '../passes/fuse.ts';
import { ExprGen, LaneMisaligned, type ExprHost } from './expr.ts';
import { helpersFor } from './helpers.ts';
import { combine } from './render.ts';
import { getOp } from '../ops/index.ts';
import { render } from './template.ts';
import { bindingDecls, grid, literal, Sizes, WORKGROUP, type Binding, type SizeMode, type Storage } from './wgsl.ts';
import { attrsOf } from '../ir/attrs.ts';

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
  /** The u32 sizes the shader reads from its uniform (binding reads.length + 1); empty when inline. */
  sizes: number[];
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
  sizeMode: SizeMode;
  /** Long reductions into few outputs take a workgroup per output (hardware adapters). */
  workgroupReductions: boolean;
}

/**
 * Binds a group's reads in the order the generator first loads them, so kernels of one
 * structure bind alike whatever their nodes' ids (and share a shader), and serves ExprGen's loads.
 */
class Bindings {
  /** Node ids in binding order (KernelSpec.reads). */
  readonly order: number[] = [];
  private readonly names = new Map<number, string>();
  private sealed = false;
  readonly sizes: Sizes;
  constructor(
    readonly ctx: CodegenContext,
    readonly reads: number[],
  ) {
    this.sizes = new Sizes(ctx.sizeMode);
  }
  bind(id: number): string {
    let name = this.names.get(id);
    if (name) return name;
    if (!this.reads.includes(id)) throw new Error(`codegen: %${id} is read but not among the group's buffers`);
    if (this.sealed) throw new Error(`codegen: %${id} bound after the bindings were declared`);
    name = `in${this.order.length}`;
    this.names.set(id, name);
    this.order.push(id);
    return name;
  }
  /** An ExprGen host; `inline` nodes are computed in the kernel even if they own a buffer. */
  host(inline: (id: number) => boolean = () => false): ExprHost {
    return {
      graph: this.ctx.graph,
      storage: (id) => this.ctx.storage(id),
      bind: (id) => this.bind(id),
      materialized: (id) => !inline(id) && this.ctx.isMaterialized(id),
      sizes: this.sizes,
    };
  }
  /** A generated kernel's WGSL, dispatch, sizes and reads in binding order. */
  result(wgsl: string, workgroups: [number, number, number]): Pick<KernelSpec, 'wgsl' | 'sizes' | 'workgroups' | 'reads'> {
    return { wgsl, sizes: this.sizes.values, workgroups, reads: this.order };
  }
  /** The declarations, reads then `out`; a read the code never loaded is still bound, last. */
  decls(out: Node): string {
    for (const id of this.reads) this.bind(id);
    this.sealed = true;
    const list: Binding[] = this.order.map((id) => ({ name: this.names.get(id)!, storage: this.ctx.storage(id), write: false }));
    return bindingDecls([...list, { name: 'out', storage: this.ctx.storage(out.id), write: true }]);
  }
}

/** The value written to `out`: narrowed when the output buffer is half. */
function store(ctx: CodegenContext, out: Node, v: string): string {
  return ctx.storage(out.id) === 'f16' ? `f16(${v})` : v;
}

/** The row stride of a folded 2-D grid ('0u' when the grid is 1-D: gid.y is then 0). */
function rowStride(b: Bindings, workgroups: [number, number, number], row: number): string {
  return workgroups[1] === 1 ? '0u' : b.sizes.u(row);
}

/**
 * The kernel's module: `enable f16` only where a buffer is half, the helpers its code calls (and
 * nothing else), the template filled in, then the sizes uniform (declared last: its slots are
 * known once every size was asked for).
 */
function kernelSource(b: Bindings, decls: string, name: string, vars: Record<string, string | number>): string {
  const body = render(name, { ...vars, BINDINGS: decls });
  const sizes = b.sizes.decl(b.reads.length + 1);
  return [decls.includes('array<f16>') ? 'enable f16;' : '', helpersFor(body), body, sizes].filter(Boolean).join('\n');
}

export function generateKernel(ctx: CodegenContext, group: Group): KernelSpec {
  const root = ctx.graph.get(group.root);
  const name = `${group.kind}_${root.op}_${root.id}${root.scope ? `_${root.scope.replace(/[^A-Za-z0-9]+/g, '_')}` : ''}`;
  const base = { name, kind: group.kind, root: root.id, nodes: group.nodes };
  const bindings = () => new Bindings(ctx, group.reads);
  switch (group.kind) {
    case 'map':
      return { ...base, ...mapKernel(ctx, bindings, root) };
    case 'reduce':
      return { ...base, ...reduceKernel(ctx, bindings(), root) };
    case 'scatter':
      return { ...base, ...scatterKernel(ctx, bindings(), root) };
    case 'row':
      return { ...base, ...rowKernel(ctx, bindings(), root, group.nodes) };
    case 'matmul':
      return { ...base, ...matmulKernel(ctx, bindings(), group.core !== undefined ? ctx.graph.get(group.core) : root, root) };
  }
}

/** Elements per thread of a map kernel, where its index maps allow. */
const LANES = 4;

/**
 * Several consecutive elements per thread where every index map allows (fewer threads and one set
 * of divisions for all of them), else one; each try binds afresh.
 */
function mapKernel(ctx: CodegenContext, bindings: () => Bindings, root: Node) {
  const n = numel(root.shape);
  for (const width of n % LANES === 0 ? [LANES, 1] : [1]) {
    try {
      return mapKernelOf(ctx, bindings(), root, width);
    } catch (e) {
      if (!(e instanceof LaneMisaligned) || width === 1) throw e;
    }
  }
  throw new Error('unreachable: a map kernel of width 1 never misaligns');
}

function mapKernelOf(ctx: CodegenContext, b: Bindings, root: Node, width: number) {
  const n = numel(root.shape);
  const { workgroups, row } = grid(n / width, ctx.maxWorkgroupsPerDim);
  // The root itself is computed inline, though it owns the output buffer.
  const gen = new ExprGen(b.host((id) => id === root.id));
  const stores: string[] = [];
  for (let e = 0; e < width; e++) {
    const idx = e === 0 ? 'i' : `(i + ${e}u)`;
    if (e > 0) gen.lane(idx, 'i', e, width);
    stores.push(`  out[${idx}] = ${store(ctx, root, gen.value(root.id, idx))};`);
  }
  const wgsl = kernelSource(b, b.decls(root), 'map', { WG: WORKGROUP, ROW: rowStride(b, workgroups, row), WIDTH: width, N: b.sizes.u(n), BODY: [gen.body, ...stores].join('\n') });
  return b.result(wgsl, workgroups);
}

function reduceKernel(ctx: CodegenContext, b: Bindings, root: Node) {
  const x = ctx.graph.get(root.inputs[0]);
  const axes = attrsOf(root, 'sum', 'max_reduce').axes;
  const keep = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const red = axes.map((a) => x.shape[a]);
  const st = strides(x.shape);
  const n = numel(root.shape);
  const R = numel(red);
  // Few outputs over many elements: a workgroup per output, not a thread, on a GPU. (On lavapipe
  // a workgroup runs on one core as a thread does, and measured no faster: kept serial there.)
  const long = ctx.workgroupReductions && R >= LONG_REDUCTION && n <= LONG_REDUCTION_OUTPUTS;
  const { workgroups, row } = grid(n, ctx.maxWorkgroupsPerDim, long ? 1 : WORKGROUP);
  const host = b.host();
  const pre = new ExprGen(host, '  ');
  pre.lines.push(`  let base = ${pre.stridedIndex('o', keep, st)};`);
  const body = new ExprGen(host, '    ', 'w');
  body.lines.push(
    `    let i = base + ${body.stridedIndex(
      'r',
      red,
      axes.map((a) => st[a]),
    )};`,
  );
  const v = body.value(x.id, 'i');
  const r = getOp(root.op).reduce!;
  const vars = {
    WG: WORKGROUP,
    ROW: rowStride(b, workgroups, row),
    N: b.sizes.u(n),
    PRE: pre.body,
    INIT: literal(r.identity, 'f32'),
    R: b.sizes.u(R),
    BODY: body.body,
    COMBINE: combine(r, 'acc', v),
    STORE: store(ctx, root, 'acc'),
  };
  const wgsl = long ? kernelSource(b, b.decls(root), 'reduce_wg', { ...vars, COMBINE_PART: combine(r, 'part[t]', 'part[t + s]') }) : kernelSource(b, b.decls(root), 'reduce', vars);
  return b.result(wgsl, workgroups);
}

/** Reductions at least this long, into at most LONG_REDUCTION_OUTPUTS outputs, take a workgroup per output. */
const LONG_REDUCTION = 8192;
const LONG_REDUCTION_OUTPUTS = 4096;

function rowKernel(ctx: CodegenContext, b: Bindings, root: Node, nodes: number[]) {
  const C = root.shape[root.shape.length - 1];
  const rows = numel(root.shape) / C;
  const { workgroups, row } = grid(rows, ctx.maxWorkgroupsPerDim);
  const Cu = b.sizes.u(C);
  const overrides = new Map<number, string>();
  const host = b.host((id) => nodes.includes(id));
  const lines: string[] = [];
  const members = nodes.map((id) => ctx.graph.get(id));
  const reduces = members.filter((n) => getOp(n.op).reduce);
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
    const red = getOp(r.op).reduce!;
    const body = new ExprGen(host, '    ', `r${k}_`, overrides).know('i', C, 'row', 'j');
    body.lines.push(`    let i = row * ${Cu} + j;`);
    const v = body.value(r.inputs[0], 'i');
    lines.push(`  var acc${k}: f32 = ${literal(red.identity, 'f32')};`, `  for (var j = 0u; j < ${Cu}; j++) {`, body.body, `    acc${k} = ${combine(red, `acc${k}`, v)};`, '  }');
    overrides.set(r.id, `acc${k}`);
  });
  hoist(reduces.length);
  const gen = new ExprGen(host, '    ', 'v', overrides).know('i', C, 'row', 'j');
  const v = gen.value(root.id, 'i');
  const wgsl = kernelSource(b, b.decls(root), 'row', {
    WG: WORKGROUP,
    ROW: rowStride(b, workgroups, row),
    ROWS: b.sizes.u(rows),
    C: Cu,
    REDUCTIONS: lines.filter(Boolean).join('\n'),
    BODY: gen.body,
    RESULT: store(ctx, root, v),
  });
  return b.result(wgsl, workgroups);
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
  const IDX = b.bind(idx.id);
  const wgsl = kernelSource(b, b.decls(root), 'scatter_add', {
    WG: WORKGROUP,
    ROW: rowStride(b, workgroups, row),
    N: b.sizes.u(n),
    ROWLEN: b.sizes.u(rowLen),
    NIDX: b.sizes.u(numel(idx.shape)),
    IDX,
    BODY: body.body,
    VALUE: v,
    STORE: store(ctx, root, 'acc'),
  });
  return b.result(wgsl, workgroups);
}

/** `mm` is the matmul; `root` the node the kernel writes (mm itself, or the end of its epilogue). */
function matmulKernel(ctx: CodegenContext, b: Bindings, mm: Node, root: Node) {
  const [A, B] = mm.inputs.map((i) => ctx.graph.get(i));
  const flags = attrsOf(mm, 'matmul');
  const shape = matmulDims(A.shape, B.shape, flags, 'matmul');
  // A batch of A's under one shared B (a weight under [B, L, K] activations) is one matmul of
  // batch x M rows: row-major A and C are the same memory either way, and whole tiles of rows
  // replace a partial tile per batch element (65 or 17 rows per example). Same sums per output.
  const fold = !flags.transA && numel(B.shape.slice(0, -2)) === 1 && numel(A.shape.slice(0, -2)) === numel(shape.batch) && shape.batch.length > 0;
  const { K, N } = shape;
  const M = fold ? shape.M * numel(shape.batch) : shape.M;
  const batch = fold ? [] : shape.batch;
  const { transA, transB } = flags;
  // The store: the accumulator, or the fused epilogue evaluated on it at flat index o.
  const storeCode = (acc: string, indent: string, col: string) => {
    if (mm === root) return `${indent}out[o] = ${store(ctx, root, acc)};`;
    // o = p * M * N + r * N + c: the epilogue's index maps get p, r and c without dividing.
    const epi = new ExprGen(
      b.host((id) => id === root.id),
      indent,
      'e',
      new Map([[mm.id, acc]]),
    )
      .know('o', N, '(p * M + r)', col)
      .know('o', M * N, 'p', `(r * N + ${col})`)
      .know('(p * M + r)', M, 'p', 'r');
    const v = epi.value(root.id, 'o');
    return `${epi.body}\n${indent}out[o] = ${store(ctx, root, v)};`;
  };
  const a = b.bind(A.id);
  const bb = b.bind(B.id);
  // Sizes first, in a fixed order: M, N, K, then the batch offsets and the epilogue's.
  const dims = { M: b.sizes.u(M), N: b.sizes.u(N), K: b.sizes.u(K) };
  const gen = new ExprGen(b.host(), '  ');
  const aBatch = fold ? '0u' : gen.broadcastIndex('p', A.shape.slice(0, -2), batch);
  const bBatch = fold ? '0u' : gen.broadcastIndex('p', B.shape.slice(0, -2), batch);
  gen.lines.push(`  let aOff = ${aBatch} * M * K;`, `  let bOff = ${bBatch} * K * N;`);
  const ld = (arr: string, id: number, idx: string) => (ctx.storage(id) === 'f16' ? `f32(${arr}[${idx}])` : `${arr}[${idx}]`);
  const LOAD_A = ld(a, A.id, transA ? 'aOff + k * M + r' : 'aOff + r * K + k');
  const LOAD_B = ld(bb, B.id, transB ? 'bOff + c * K + k' : 'bOff + k * N + c');
  let variant = ctx.matmulVariant(mm);
  if (variant.family === 'reg4' && (N % 4 !== 0 || transB || ctx.storage(B.id) !== 'f32')) {
    variant = { family: 'reg', tm: variant.tm, tn: 4, wgx: variant.wgx, wgy: variant.wgy };
  }
  const nb = numel(batch);
  if (nb > ctx.maxWorkgroupsPerDim) throw new Error(`matmul %${mm.id}: batch of ${nb} exceeds ${ctx.maxWorkgroupsPerDim} workgroups`);
  // The epilogue binds its reads: generate it before the bindings are declared.
  const STORE = variant.family === 'reg4' ? storeCode('acc[i][j][e]', '          ', '(c4 * 4u + e)') : storeCode('acc[i][j]', '        ', 'c');
  const decls = b.decls(root);
  const common = { ...dims, BATCH: gen.body, LOAD_A, LOAD_B, STORE };
  let wgsl: string;
  let workgroups: [number, number, number];
  if (variant.family === 'reg4') {
    const { tm, tn4, wgx, wgy } = variant;
    // B is re-declared as an array of vec4s; the binding index stays the same.
    const decls4 = decls.replace(`var<storage, read> ${bb}: array<f32>;`, `var<storage, read> ${bb}: array<vec4<f32>>;`);
    const { LOAD_B: _scalarB, ...rest } = common;
    wgsl = kernelSource(b, decls4, 'matmul_reg4', { ...rest, B4: bb, N4: 'N / 4u', TM: tm, TN4: tn4, WGX: wgx, WGY: wgy });
    workgroups = [Math.ceil(N / 4 / tn4 / wgx), Math.ceil(M / tm / wgy), nb];
  } else if (variant.family === 'reg') {
    const { tm, tn, wgx, wgy } = variant;
    wgsl = kernelSource(b, decls, 'matmul_reg', { ...common, TM: tm, TN: tn, WGX: wgx, WGY: wgy });
    workgroups = [Math.ceil(N / tn / wgx), Math.ceil(M / tm / wgy), nb];
  } else {
    wgsl = kernelSource(b, decls, 'matmul_tiled', common);
    workgroups = [Math.ceil(N / 64), Math.ceil(M / 64), nb];
  }
  return { ...b.result(wgsl, workgroups), variant };
}
