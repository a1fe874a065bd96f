/**
 * WGSL rendering of kernel descriptions (kernel/ir.ts): one module per fusion group, from the
 * templates in kernels/, its expressions spelled by the Emitter (expr.ts). Bindings are the
 * group's reads in the order the code first loads them, then `out`, then the sizes uniform.
 */
import type { Graph, Node } from '../ir/graph.ts';
import type { Group, KernelKind } from '../passes/fuse.ts';
import type { Kernel, KExpr, KVar } from '../kernel/ir.ts';
import type { BindingSplit } from '../passes/split-bindings.ts';
import { Emitter, LaneMisaligned, type EmitHost } from './expr.ts';
import { helpersFor } from './helpers.ts';
import { combine } from './render.ts';
import { render } from './template.ts';
import { bindingDecls, grid, literal, Sizes, WORKGROUP, type Binding, type SizeMode, type Storage } from './wgsl.ts';

export type MatmulVariant =
  | { family: 'reg'; tm: number; tn: number; wgx: number; wgy: number }
  /** vec4 loads of B: needs N % 4 == 0 and B not transposed (falls back to 'reg' otherwise). */
  | { family: 'reg4'; tm: number; tn4: number; wgx: number; wgy: number }
  /** 'reg' tiles numbered over all batch entries in one line: small batched blocks (attention's) fill every thread. */
  | { family: 'packed'; tm: number; tn: number; wg: number }
  | { family: 'tiled' };

/** A variant in a few characters, for benches and profiles: 'reg 8x8', 'packed 9x9', 'tiled'. */
export function variantLabel(v: MatmulVariant): string {
  if (v.family === 'reg' || v.family === 'packed') return `${v.family} ${v.tm}x${v.tn}`;
  return v.family === 'reg4' ? `reg4 ${v.tm}x${v.tn4 * 4}` : v.family;
}

export interface KernelSpec {
  name: string;
  kind: KernelKind;
  root: number;
  nodes: number[];
  /** Node ids bound in order as bindings 0..n-1; the output is binding n, its siblings n+1... */
  reads: number[];
  /** Other nodes a map kernel writes (after `root`, in this order). */
  siblings?: number[];
  wgsl: string;
  /** The u32 sizes the shader reads from its uniform (binding reads.length + 1); empty when inline. */
  sizes: number[];
  workgroups: [number, number, number];
  variant?: MatmulVariant;
  /** The backend-neutral description the WGSL was rendered from (absent in a loaded artifact). */
  ir?: Kernel;
  /** Per bound node (reads, root, siblings): its storage, and how many bindings it takes (ranges over the binding limit). Set by the memory plan. */
  storage?: Storage[];
  spans?: number[];
}

export interface CodegenContext {
  graph: Graph;
  /** Element type of each materialized node's buffer (f16 where activations are half-stored). */
  storage(id: number): Storage;
  /** How node `id`'s buffer is bound: one binding, or `count` ranges of `elems` elements over the binding size limit. */
  split(id: number): BindingSplit;
  maxWorkgroupsPerDim: number;
  isMaterialized(id: number): boolean;
  matmulVariant(n: Node): MatmulVariant;
  sizeMode: SizeMode;
  /** Long reductions into few outputs take a workgroup per output (hardware adapters). */
  workgroupReductions: boolean;
  /** Elements per thread a map kernel tries first (then 4, then 1, as its index maps allow). */
  mapElements: number;
  /** Reductions and row kernels with few threads take workgroups of 8 (a CPU's SIMD width). */
  smallWorkgroups: boolean;
  /** Map kernels of 4 elements per thread load buffers read only at their own index as one vec4. */
  vec4Loads: boolean;
}

/**
 * Binds a group's reads in the order the generator first loads them, so kernels of one
 * structure bind alike whatever their nodes' ids (and share a shader), and serves ExprGen's loads.
 * A node over the binding size limit is declared as one array per range (`in3_0`, `in3_1`, ...)
 * and read or written through an accessor (`ld_in3(i)`, `st_out(i, v)`) that picks the range.
 */
class Bindings {
  /** Node ids in binding order (KernelSpec.reads). */
  readonly order: number[] = [];
  private readonly names = new Map<number, string>();
  private sealed = false;
  /** Output bindings declared (the sizes uniform follows them). */
  outputs = 0;
  /** Storage bindings declared, ranges counted (the sizes uniform's binding index). */
  count = 0;
  /** Reads declared as arrays of vec4 (see vectorBuffers). */
  readonly vec4 = new Set<number>();
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
  /** Whether node `id` is bound as several ranges. */
  split(id: number): boolean {
    return this.ctx.split(id).count > 1;
  }
  /** Whether node `id` is read through an accessor: bound as ranges, or packed two to a word (bf16). */
  private accessed(id: number): boolean {
    return this.split(id) || this.ctx.storage(id) === 'bf16';
  }
  /** Element `idx` of read `id`, in its compute type. */
  load(id: number, idx: string): string {
    const name = this.bind(id);
    if (this.accessed(id)) return `ld_${name}(${idx})`;
    const raw = `${name}[${idx}]`;
    return this.ctx.storage(id) === 'f16' ? `f32(${raw})` : raw;
  }
  /** The statement storing f32 `value` at `idx` of the kernel's m-th output (node `id`), narrowed to its storage. */
  store(m: number, id: number, idx: string, value: string): string {
    if (this.ctx.storage(id) === 'bf16')
      throw new Error(`codegen: %${id} is stored as bf16, which kernels only read (frozen weights)`);
    const v = this.ctx.storage(id) === 'f16' ? `f16(${value})` : value;
    return this.split(id) ? `st_${outName(m)}(${idx}, ${v});` : `${outName(m)}[${idx}] = ${v};`;
  }
  /** What an Emitter needs of the kernel: its loads and sizes. */
  get host(): EmitHost {
    return { load: (id, idx) => this.load(id, idx), sizes: this.sizes };
  }
  /** A generated kernel's WGSL, dispatch, sizes and reads in binding order. */
  result(
    wgsl: string,
    workgroups: [number, number, number],
  ): Pick<KernelSpec, 'wgsl' | 'sizes' | 'workgroups' | 'reads'> {
    return { wgsl, sizes: this.sizes.values, workgroups, reads: this.order };
  }
  /**
   * The declarations, reads then `out` (then out1, out2... for siblings), each split node as its
   * ranges followed by its accessor; a read the code never loaded is still bound, last.
   */
  decls(...outs: number[]): string {
    for (const id of this.reads) this.bind(id);
    this.sealed = true;
    this.outputs = outs.length;
    const nodes = [
      ...this.order.map((id) => ({ id, name: this.names.get(id)!, write: false })),
      ...outs.map((id, k) => ({ id, name: outName(k), write: true })),
    ];
    const list: Binding[] = [];
    const accessors: string[] = [];
    for (const { id, name, write } of nodes) {
      const storage = this.ctx.storage(id);
      const { count, elems } = this.ctx.split(id);
      if (count === 1) list.push({ name, storage, write, vec4: this.vec4.has(id) });
      else for (let j = 0; j < count; j++) list.push({ name: `${name}_${j}`, storage, write });
      if (count > 1 || storage === 'bf16')
        accessors.push(write ? rangeStore(name, storage, count, elems) : rangeLoad(name, storage, count, elems));
    }
    this.count = list.length;
    return [bindingDecls(list), ...accessors].join('\n');
  }
}

/**
 * Element i of a read bound as `count` ranges of `elems` elements: a comparison per range, not a
 * division (the range size is a literal: it depends only on the adapter's limit, so kernels of
 * one structure still share a shader).
 */
function rangeLoad(name: string, storage: Storage, count: number, elems: number): string {
  const ty = storage === 'i32' || storage === 'u32' ? storage : 'f32';
  const arr = (j: number) => (count === 1 ? name : `${name}_${j}`);
  const local = (j: number) => (j === 0 ? 'i' : `i - ${j * elems}u`);
  // bf16: element k is the low half of word k / 2 when k is even, the high half when odd (little
  // endian); a range starts at a multiple of 256 bytes, so k's parity is i's.
  const at = (j: number) =>
    storage === 'bf16'
      ? `bf16_at(${arr(j)}[(${local(j)}) >> 1u], i)`
      : storage === 'f16'
        ? `f32(${arr(j)}[${local(j)}])`
        : `${arr(j)}[${local(j)}]`;
  const tests = Array.from({ length: count - 1 }, (_, j) => `  if (i < ${(j + 1) * elems}u) { return ${at(j)}; }`);
  return [`fn ld_${name}(i: u32) -> ${ty} {`, ...tests, `  return ${at(count - 1)};`, '}'].join('\n');
}

/** Stores element i of an output bound as `count` ranges of `elems` elements (v in its storage type). */
function rangeStore(name: string, storage: Storage, count: number, elems: number): string {
  const tests = Array.from(
    { length: count - 1 },
    (_, j) => `  if (i < ${(j + 1) * elems}u) { ${name}_${j}[i - ${j * elems}u] = v; return; }`,
  );
  return [
    `fn st_${name}(i: u32, v: ${storage}) {`,
    ...tests,
    `  ${name}_${count - 1}[i - ${(count - 1) * elems}u] = v;`,
    '}',
  ].join('\n');
}

/** The WGSL name of a kernel's k-th output. */
const outName = (k: number) => (k === 0 ? 'out' : `out${k}`);

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
  const sizes = b.sizes.decl(b.count);
  return [/array<(vec4<)?f16>/.test(decls) ? 'enable f16;' : '', helpersFor(body), body, sizes]
    .filter(Boolean)
    .join('\n');
}

/** A kernel's stable name: its shape, root op and id, and the layer it computes (for errors, profiles and the pipeline cache). */
export function kernelName(graph: Graph, group: Group): string {
  const root = graph.get(group.root);
  return `${group.kind}_${root.op}_${root.id}${root.scope ? `_${root.scope.replace(/[^A-Za-z0-9]+/g, '_')}` : ''}`;
}

/**
 * The WGSL renderer: a fusion group's description (kernel/describe.ts) spelled as one compute
 * shader, with its dispatch, its sizes and its reads in binding order.
 */
export function renderKernel(ctx: CodegenContext, group: Group, k: Kernel): KernelSpec {
  const root = ctx.graph.get(group.root);
  const base = {
    name: kernelName(ctx.graph, group),
    kind: group.kind,
    root: root.id,
    nodes: group.nodes,
    ...(group.siblings?.length ? { siblings: group.siblings } : {}),
  };
  const bindings = () => new Bindings(ctx, group.reads);
  const spec = ((): Omit<KernelSpec, keyof typeof base> => {
    switch (k.kind) {
      case 'map':
        return mapKernel(ctx, bindings, k);
      case 'reduce':
        return reduceKernel(ctx, bindings(), k);
      case 'scatter':
        return scatterKernel(ctx, bindings(), k);
      case 'row':
        return rowKernel(ctx, bindings(), k);
      case 'matmul':
        return matmulKernel(ctx, bindings(), k, group.core !== undefined ? ctx.graph.get(group.core) : root);
    }
  })();
  return { ...base, ...spec, ir: k };
}

type Of<K extends Kernel['kind']> = Extract<Kernel, { kind: K }>;

/** Elements per thread of a map kernel, where its index maps allow. */
const LANES = 4;

/**
 * Several consecutive elements per thread where every index map allows (fewer threads and one set
 * of divisions for all of them), else one; each try binds afresh.
 */
function mapKernel(ctx: CodegenContext, bindings: () => Bindings, k: Of<'map'>) {
  const widths = [...new Set([ctx.mapElements, LANES, 1])].filter((w) => k.n % w === 0);
  for (const width of widths) {
    try {
      return mapKernelOf(ctx, bindings(), k, width);
    } catch (e) {
      if (!(e instanceof LaneMisaligned) || width === 1) throw e;
    }
  }
  throw new Error('unreachable: a map kernel of width 1 never misaligns');
}

function mapKernelOf(ctx: CodegenContext, b: Bindings, k: Of<'map'>, width: number) {
  const { workgroups, row } = grid(k.n / width, ctx.maxWorkgroupsPerDim);
  const outs = [{ out: k.out, value: k.value }, ...k.siblings];
  const outer = new Emitter(b.host, { i: 'i' });
  let body: string;
  if (width === 1) {
    const stores = outs.map((o, m) => `  ${b.store(m, o.out, 'i', outer.expr(o.value))}`);
    body = [outer.body, ...stores].filter(Boolean).join('\n');
  } else {
    // The thread's elements in a loop whose trip count comes from the sizes, so the shader
    // compiler keeps it a loop (unrolled, a kernel's code was compiled once per element); the
    // divisions of i are done once, before it.
    const lanes = b.sizes.u(width);
    // Buffers read only at the thread's own elements: one vec4 load before the loop (a GPU's
    // 16-byte load instead of four), each lane taking its component.
    const whole = new Map<number, string>();
    if (ctx.vec4Loads && width === 4)
      for (const buf of vectorBuffers(outs.map((o) => o.value))) {
        if ((ctx.storage(buf) !== 'f32' && ctx.storage(buf) !== 'f16') || b.split(buf)) continue;
        b.vec4.add(buf);
        const raw = `${b.bind(buf)}[i / 4u]`;
        whole.set(buf, `${outer.hoist(ctx.storage(buf) === 'f16' ? `vec4<f32>(${raw})` : raw)}[e]`);
      }
    const host = { ...b.host, vectorLoad: (buf: number) => whole.get(buf) };
    const inner = new Emitter(host, { i: '(i + e)' }, '    ', 'w', { emitter: outer, scopeVars: ['i'] }).lane(
      '(i + e)',
      'i',
      'e',
      width,
      outer,
    );
    const stores = outs.map((o, m) => `    ${b.store(m, o.out, 'i + e', inner.expr(o.value))}`);
    body = [outer.body, `  for (var e = 0u; e < ${lanes}; e++) {`, inner.body, ...stores, '  }']
      .filter(Boolean)
      .join('\n');
  }
  const wgsl = kernelSource(b, b.decls(...outs.map((o) => o.out)), 'map', {
    WG: WORKGROUP,
    ROW: rowStride(b, workgroups, row),
    WIDTH: width,
    N: b.sizes.u(k.n),
    BODY: body,
  });
  return b.result(wgsl, workgroups);
}

/** Buffers every load of which, in these expressions, reads the element at the thread's own index `i`. */
function vectorBuffers(values: KExpr[]): number[] {
  const own = new Map<number, boolean>();
  const seen = new Set<number>();
  const walk = (e: KExpr) => {
    if (seen.has(e.id)) return;
    seen.add(e.id);
    if (e.op === 'load') {
      const idx = e.args[0];
      own.set(e.buf, (own.get(e.buf) ?? true) && idx.op === 'var' && idx.name === 'i');
    }
    e.args.forEach(walk);
  };
  values.forEach(walk);
  return [...own].filter(([, ok]) => ok).map(([buf]) => buf);
}

function reduceKernel(ctx: CodegenContext, b: Bindings, k: Of<'reduce'>) {
  // Few outputs over many elements: a workgroup per output, not a thread, on a GPU. (On lavapipe
  // a workgroup runs on one core as a thread does, and measured no faster: kept serial there.)
  const long = ctx.workgroupReductions && k.R >= LONG_REDUCTION && k.n <= LONG_REDUCTION_OUTPUTS;
  const wg = long ? 1 : groupSize(ctx, k.n);
  const { workgroups, row } = grid(k.n, ctx.maxWorkgroupsPerDim, wg);
  // What depends on the output alone is computed before the loop over the reduced elements.
  const pre = new Emitter(b.host, { o: 'o' });
  const body = new Emitter(b.host, { o: 'o', r: 'r' }, '    ', 'w', { emitter: pre, scopeVars: ['r'] });
  const v = body.expr(k.value);
  const vars = {
    WG: long ? WORKGROUP : wg,
    ROW: rowStride(b, workgroups, row),
    N: b.sizes.u(k.n),
    PRE: pre.body,
    INIT: literal(k.reduce.identity, 'f32'),
    R: b.sizes.u(k.R),
    BODY: body.body,
    COMBINE: combine(k.reduce, 'acc', v),
    STORE: b.store(0, k.out, 'o', 'acc'),
  };
  const wgsl = long
    ? kernelSource(b, b.decls(k.out), 'reduce_wg', {
        ...vars,
        COMBINE_PART: combine(k.reduce, 'part[t]', 'part[t + s]'),
      })
    : kernelSource(b, b.decls(k.out), 'reduce', vars);
  return b.result(wgsl, workgroups);
}

/**
 * Threads per workgroup of a kernel whose threads each loop over many elements (reductions, rows):
 * on a CPU a workgroup runs on one core, so a kernel of fewer than four full workgroups takes
 * SIMD-wide ones (8) and spreads over the cores; a GPU keeps WORKGROUP.
 */
function groupSize(ctx: CodegenContext, threads: number): number {
  return ctx.smallWorkgroups && threads < 4 * WORKGROUP ? 8 : WORKGROUP;
}

/** Reductions at least this long, into at most LONG_REDUCTION_OUTPUTS outputs, take a workgroup per output. */
const LONG_REDUCTION = 8192;
const LONG_REDUCTION_OUTPUTS = 4096;

function rowKernel(ctx: CodegenContext, b: Bindings, k: Of<'row'>) {
  const wg = groupSize(ctx, k.rows);
  const { workgroups, row } = grid(k.rows, ctx.maxWorkgroupsPerDim, wg);
  // C's slot is the one the row's index maps share (i = row * C + j), taken first.
  const Cu = b.sizes.index(k.C);
  const vars: Partial<Record<KVar, string>> = { row: 'row' };
  k.reductions.forEach((_, m) => {
    vars[`acc${m}`] = `acc${m}`;
  });
  // Per-row values (a mean, a reciprocal of a sum) are computed once, before the loop that first
  // needs them, not per element.
  const outer = new Emitter(b.host, vars, '  ', 's');
  const loop = (prefix: string) =>
    new Emitter(b.host, { ...vars, j: 'j' }, '    ', prefix, { emitter: outer, scopeVars: ['j'] });
  const lines: string[] = [];
  k.reductions.forEach((r, m) => {
    const body = loop(`r${m}_`);
    const v = body.expr(r.value);
    lines.push(
      outer.take(),
      `  var acc${m}: f32 = ${literal(r.reduce.identity, 'f32')};`,
      `  for (var j = 0u; j < ${Cu}; j++) {`,
      body.body,
      `    acc${m} = ${combine(r.reduce, `acc${m}`, v)};`,
      '  }',
    );
  });
  const gen = loop('v');
  const v = gen.expr(k.value);
  lines.push(outer.take());
  const wgsl = kernelSource(b, b.decls(k.out), 'row', {
    WG: wg,
    ROW: rowStride(b, workgroups, row),
    ROWS: b.sizes.u(k.rows),
    C: Cu,
    REDUCTIONS: lines.filter(Boolean).join('\n'),
    BODY: gen.body,
    RESULT: b.store(0, k.out, 'i', v),
  });
  return b.result(wgsl, workgroups);
}

function scatterKernel(ctx: CodegenContext, b: Bindings, k: Of<'scatter'>) {
  const { workgroups, row } = grid(k.n, ctx.maxWorkgroupsPerDim);
  const body = new Emitter(b.host, { i: 'i' }, '      ');
  const v = body.expr(k.value);
  const IDX_K = b.load(k.indices, 'k');
  const wgsl = kernelSource(b, b.decls(k.out), 'scatter_add', {
    WG: WORKGROUP,
    ROW: rowStride(b, workgroups, row),
    N: b.sizes.u(k.n),
    ROWLEN: b.sizes.u(k.rowLen),
    NIDX: b.sizes.u(k.nIdx),
    IDX_K,
    BODY: body.body,
    VALUE: v,
    STORE: b.store(0, k.out, 'o', 'acc'),
  });
  return b.result(wgsl, workgroups);
}

/** `mm` is the matmul node: its tile variant is chosen per node. */
function matmulKernel(ctx: CodegenContext, b: Bindings, k: Of<'matmul'>, mm: Node) {
  const { M, N, a: A, b: B } = k;
  // The store: the accumulator, or the fused epilogue evaluated on it at flat index o.
  const storeCode = (epilogue: KExpr | null, acc: string, indent: string) => {
    if (!epilogue) return `${indent}${b.store(0, k.out, 'o', acc)}`;
    // The template's o, p, r and c (and two partial sums of o) spell the epilogue's variables.
    const epi = new Emitter(
      b.host,
      { acc, o: 'o', p: 'p', r: 'r', c: 'c', pr: '(p * M + r)', rc: '(r * N + c)' },
      indent,
      'e',
    );
    const v = epi.expr(epilogue);
    return `${epi.body}\n${indent}${b.store(0, k.out, 'o', v)}`;
  };
  b.bind(A.buf);
  const bb = b.bind(B.buf);
  // Sizes first, in a fixed order: M, N, K, then the batch offsets and the epilogue's.
  const dims = { M: b.sizes.u(M), N: b.sizes.u(N), K: b.sizes.u(k.K) };
  const gen = new Emitter(b.host, { p: 'p' });
  const aBatch = gen.expr(A.batch);
  const bBatch = gen.expr(B.batch);
  const batchLines = [gen.body, `  let aOff = ${aBatch} * M * K;`, `  let bOff = ${bBatch} * K * N;`]
    .filter(Boolean)
    .join('\n');
  const LOAD_A = b.load(A.buf, A.trans ? 'aOff + k * M + r' : 'aOff + r * K + k');
  const LOAD_B = b.load(B.buf, B.trans ? 'bOff + c * K + k' : 'bOff + k * N + c');
  let variant = ctx.matmulVariant(mm);
  if (variant.family === 'reg4' && (N % 4 !== 0 || B.trans || ctx.storage(B.buf) !== 'f32' || b.split(B.buf))) {
    variant = { family: 'reg', tm: variant.tm, tn: 4, wgx: variant.wgx, wgy: variant.wgy };
  }
  const nb = k.batch.reduce((s, d) => s * d, 1);
  if (nb > ctx.maxWorkgroupsPerDim)
    throw new Error(`matmul %${mm.id}: batch of ${nb} exceeds ${ctx.maxWorkgroupsPerDim} workgroups`);
  // The epilogue binds its reads: render it before the bindings are declared.
  const STORE =
    variant.family === 'tiled' ? storeCode(k.epilogue, 'acc[i][j]', '        ') : storeCode(k.epilogue, 'a', '    ');
  const decls = b.decls(k.out);
  const common = { ...dims, BATCH: batchLines, LOAD_A, LOAD_B, STORE };
  // The register-blocked families store their flat tile with one loop (kernels/matmul_store.wgsl).
  const storeLoop = (resRow: number) => render('matmul_store', { RES_ROW: resRow, STORE }).trimEnd();
  let wgsl: string;
  let workgroups: [number, number, number];
  if (variant.family === 'reg4') {
    const { tm, tn4, wgx, wgy } = variant;
    // B is re-declared as an array of vec4s; the binding index stays the same.
    const decls4 = decls.replace(
      `var<storage, read> ${bb}: array<f32>;`,
      `var<storage, read> ${bb}: array<vec4<f32>>;`,
    );
    const { LOAD_B: _scalarB, STORE: _store, ...rest } = common;
    wgsl = kernelSource(b, decls4, 'matmul_reg4', {
      ...rest,
      B4: bb,
      N4: 'N / 4u',
      TM: tm,
      TN4: tn4,
      TILE: tm * tn4 * 4,
      WGX: wgx,
      WGY: wgy,
      STORE_LOOP: storeLoop(tn4 * 4),
    });
    workgroups = [Math.ceil(N / 4 / tn4 / wgx), Math.ceil(M / tm / wgy), nb];
  } else if (variant.family === 'reg' || variant.family === 'packed') {
    const { tm, tn } = variant;
    const { STORE: _store, ...rest } = common;
    let origin: string;
    let size: string;
    if (variant.family === 'reg') {
      const { wgx, wgy } = variant;
      size = `${wgx}, ${wgy}`;
      origin = [
        `  let row0 = gid.y * ${tm}u;`,
        `  let col0 = gid.x * ${tn}u;`,
        '  let p = gid.z;',
        '  if (row0 >= M || col0 >= N) { return; }',
      ].join('\n');
      workgroups = [Math.ceil(N / tn / wgx), Math.ceil(M / tm / wgy), nb];
    } else {
      // Every batch entry's tiles numbered in one line, so a block narrower than a workgroup's
      // tiles leaves no thread idle (attention's 17 x 17 blocks filled 25 of 64 in 'reg').
      const tiles = Math.ceil(M / tm) * Math.ceil(N / tn);
      const g = grid(nb * tiles, ctx.maxWorkgroupsPerDim, variant.wg);
      size = String(variant.wg);
      origin = [
        `  let tilesN = (N + ${tn - 1}u) / ${tn}u;`,
        `  let tiles = (M + ${tm - 1}u) / ${tm}u * tilesN;`,
        `  let t = gid.x + gid.y * ${rowStride(b, g.workgroups, g.row)};`,
        '  let p = t / tiles;',
        `  if (p >= ${b.sizes.u(nb)}) { return; }`,
        '  let q = t - p * tiles;',
        `  let row0 = q / tilesN * ${tm}u;`,
        `  let col0 = q % tilesN * ${tn}u;`,
      ].join('\n');
      workgroups = g.workgroups;
    }
    wgsl = kernelSource(b, decls, 'matmul_reg', {
      ...rest,
      TM: tm,
      TN: tn,
      TILE: tm * tn,
      WG_SIZE: size,
      ORIGIN: origin,
      STORE_LOOP: storeLoop(tn),
    });
  } else {
    wgsl = kernelSource(b, decls, 'matmul_tiled', common);
    workgroups = [Math.ceil(N / 64), Math.ceil(M / 64), nb];
  }
  return { ...b.result(wgsl, workgroups), variant };
}
