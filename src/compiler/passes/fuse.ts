/**
 * Fusion: decide which nodes get a buffer (are materialized) and group the rest into the
 * kernel of the materialized node that consumes them.
 *
 * - Elementwise, layout, gather and random nodes with one consumer inline into it: into a map
 *   kernel, or as the prologue of a reduction or scatter. Layout views of a buffer (reshape,
 *   broadcast, permute, slice of a materialized node) inline into every consumer: they are
 *   only index arithmetic.
 * - matmul, reductions and scatter_add are kernel roots; matmul operands are materialized.
 * - A reshape of a materialized node is an alias of its buffer: no kernel, no copy.
 * - No kernel binds more storage buffers than the device allows (a tensor over the binding size
 *   limit counts once per range it is bound as): a group over the limit materializes its widest
 *   inlined input and is regrouped.
 * - A pack (a tree of axis-0 concats of flat tensors at aligned offsets, see packParts) is no
 *   kernel: each part's writer writes straight into its slice of the pack's buffer.
 */
import { numel, type Graph, type Node } from '../ir/graph.ts';
import { getOp } from '../ops/index.ts';
import { attrsOf, leafName } from '../ir/attrs.ts';
import { PlanLimitError } from './memory.ts';

export type KernelKind = 'map' | 'reduce' | 'matmul' | 'scatter' | 'row';

export interface Group {
  kind: KernelKind;
  /** The materialized node this kernel writes. */
  root: number;
  /** For a matmul with a fused epilogue: the matmul inside the group (root is the epilogue's end). */
  core?: number;
  /** Other materialized nodes this (map) kernel writes besides root: siblings over the same elements. */
  siblings?: number[];
  /** Nodes computed inside the kernel (root included). */
  nodes: number[];
  /** Materialized nodes the kernel reads. */
  reads: number[];
}

export interface FusionOptions {
  fuse: boolean;
  /** Merge sibling map kernels (fuseSiblings); default on. */
  siblings?: boolean;
  /** maxStorageBuffersPerShaderStage. */
  maxBindings: number;
  /** Bindings a materialized node takes (more than 1 over the binding size limit); default 1. */
  bindings?: (id: number) => number;
}

export interface Fusion {
  /** Nodes with their own storage (leaves, kernel roots, aliases). */
  materialized: Set<number>;
  /** reshape node -> node whose buffer it shares. */
  alias: Map<number, number>;
  parts: PackParts;
  groups: Group[];
}

/** Packs written in place: a part's buffer -> the pack (its top concat) and element offset. */
export type PackParts = Map<number, { pack: number; offset: number }>;

/** The packs (top concats) of `parts`. */
export const packsOf = (parts: PackParts): Set<number> => new Set([...parts.values()].map((p) => p.pack));

/** Elements a packed part's offset is a multiple of: 256 bytes of f32, WebGPU's largest storage offset alignment. */
export const PACK_ALIGN = 64;

const INLINE_KINDS = new Set(['unary', 'binary', 'where', 'cast', 'layout', 'index', 'random']);
const VIEW_OPS = new Set(['reshape', 'broadcast', 'permute', 'slice']);
/** Elementwise ops cheaper to recompute in each consumer than to store and load (no transcendentals). */
const CHEAP_OPS = new Set([
  'add',
  'sub',
  'mul',
  'div',
  'neg',
  'abs',
  'max',
  'min',
  'relu',
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
  'where',
  'cast',
]);
/** Consumers a cheap op is recomputed for, at most. */
const MAX_RECOMPUTE = 4;

export function kernelKind(n: Node): KernelKind {
  if (n.op === 'matmul') return 'matmul';
  if (getOp(n.op).kind === 'row') return 'row';
  if (getOp(n.op).reduce) return 'reduce';
  if (n.op === 'scatter_add') return 'scatter';
  return 'map';
}

function isScalarConst(n: Node): boolean {
  return n.op === 'const' && numel(n.shape) === 1;
}

export function fuse(g: Graph, opts: FusionOptions): Fusion {
  const users = g.users();
  const outputs = new Set(g.outputs.values());
  const materialized = new Set<number>();

  const mustMaterialize = (n: Node): boolean => {
    if (n.op === 'input' || n.op === 'param' || outputs.has(n.id)) return true;
    if (n.op === 'const') return !isScalarConst(n);
    const def = getOp(n.op);
    // Kernel roots (matmul, reductions, scatter_add) always own their output.
    if (!INLINE_KINDS.has(def.kind) || n.op === 'scatter_add') return true;
    if (!opts.fuse) return true;
    const us = users[n.id].map((u) => g.get(u));
    // Feeding a matmul, a gather's index, or a scatter's index needs a buffer.
    for (const u of us) {
      if (u.op === 'matmul') return true;
      if (u.op === 'scatter_add' && u.inputs[0] === n.id) return true;
    }
    if (us.length === 1) return false;
    // Several consumers: recompute index views of a buffer, and one cheap op over buffers, in
    // each consumer rather than spend a kernel and a round trip through memory on it. Only one
    // level (its operands are buffers or literals): recomputing chains would multiply the work.
    if (VIEW_OPS.has(n.op) && materialized.has(n.inputs[0])) return false;
    const operandsReady = n.inputs.every((i) => materialized.has(i) || isScalarConst(g.get(i)));
    return !(CHEAP_OPS.has(n.op) && us.length <= MAX_RECOMPUTE && operandsReady);
  };
  for (const n of g.nodes) if (mustMaterialize(n)) materialized.add(n.id);
  // Packs are written in place unless a kernel would read a pack it writes a part of (WebGPU
  // forbids a buffer bound read-only and writable in one dispatch): those become concat kernels.
  const parts: PackParts = opts.fuse ? packParts(g, users, outputs) : new Map();
  for (;;) {
    const fusion = fuseGroups(g, opts, users, materialized, parts);
    const clash = packsReadWhileWritten(fusion);
    if (clash.size === 0) return fusion;
    for (const [id, p] of parts) if (clash.has(p.pack)) parts.delete(id);
  }
}

/** A node as an error names it: a param or input by name, else op, id and shape. */
function describe(n: Node): string {
  const name = n.op === 'param' || n.op === 'input' ? `${n.op} '${leafName(n)}'` : `%${n.id}`;
  return `${name} [${n.shape.join(', ')}]`;
}

function fuseGroups(
  g: Graph,
  opts: FusionOptions,
  users: number[][],
  materialized: Set<number>,
  parts: PackParts,
): Fusion {
  const packs = packsOf(parts);
  const one = opts.bindings ?? (() => 1);
  const cost = (ids: readonly number[]) => ids.reduce((s, id) => s + one(id), 0);
  // Splits over the binding limit pin nodes as buffers; row and epilogue fusion must not undo them.
  const pinned = new Set<number>();
  for (;;) {
    const mat = new Set([...materialized, ...parts.keys(), ...packs, ...pinned]);
    const base = buildGroups(g, mat).filter((gr) => !packs.has(gr.root));
    const groups = opts.fuse ? fuseEpilogues(g, mat, users, fuseRows(g, mat, users, base, pinned), pinned) : base;
    const over = groups.filter((gr) => cost(gr.reads) + cost([gr.root]) > opts.maxBindings);
    if (over.length === 0) {
      const alias = aliases(g, mat);
      return {
        materialized: mat,
        alias,
        parts: new Map(parts),
        groups: opts.fuse && opts.siblings !== false ? fuseSiblings(g, groups, alias, opts.maxBindings, cost) : groups,
      };
    }
    // In every group over the limit, materialize the inlined node that reads the most buffers,
    // then regroup (all at once: one regrouping per round keeps fusion linear in the graph).
    const width = (id: number) => cost(buildGroups(g, mat, id)[0]?.reads ?? []);
    for (const gr of over) {
      // Inlined nodes first; then a fused matmul's core (its epilogue becomes a kernel of its own).
      const inlined = gr.nodes.filter((id) => id !== gr.root && id !== gr.core && !pinned.has(id));
      const inner = inlined.length || gr.core === undefined || pinned.has(gr.core) ? inlined : [gr.core];
      if (inner.length === 0) {
        const list = [...gr.reads, gr.root].map((id) => `${describe(g.get(id))} (${cost([id])})`).join(', ');
        throw new PlanLimitError(
          `fuse: ${g.get(gr.root).op} %${gr.root}${g.get(gr.root).scope ? ` in '${g.get(gr.root).scope}'` : ''} needs ${cost(gr.reads) + cost([gr.root])} storage bindings, over the device's ${opts.maxBindings}: ${list}; a tensor over the binding size limit takes one binding per range, so reduce the batch or sequence length`,
        );
      }
      pinned.add(inner.reduce((best, id) => (width(id) > width(best) ? id : best)));
    }
  }
}

/** Packs some kernel writes a part of while reading that pack or another of its parts. */
function packsReadWhileWritten(f: Fusion): Set<number> {
  const packs = packsOf(f.parts);
  const packOf = (id: number) => {
    const own = f.alias.get(id) ?? id;
    return f.parts.get(own)?.pack ?? (packs.has(own) ? own : undefined);
  };
  const clash = new Set<number>();
  for (const gr of f.groups) {
    const written = new Set([gr.root, ...(gr.siblings ?? [])].map(packOf));
    for (const r of gr.reads) {
      const p = packOf(r);
      if (p !== undefined && written.has(p)) clash.add(p);
    }
  }
  return clash;
}

const EPILOGUE_KINDS = new Set(['unary', 'binary', 'where']);

function isLastAxisReduce(n: Node, rowShape: readonly number[]): boolean {
  const r = rowShape.length;
  if (!getOp(n.op).reduce) return false;
  const { axes, keepdims } = attrsOf(n, 'sum', 'max_reduce');
  return keepdims && axes.join() === String(r - 1);
}

/**
 * Row groups: a map group over [..., C] absorbs the last-axis reductions it reads (keepdims),
 * the same-shape or per-row elementwise nodes between them, as long as nothing outside the
 * group uses them. Softmax, log-softmax and layer norm (and their VJPs) become one kernel.
 */
function fuseRows(
  g: Graph,
  materialized: Set<number>,
  users: number[][],
  groups: Group[],
  pinned: Set<number>,
): Group[] {
  const outputs = new Set(g.outputs.values());
  const absorbed = new Set<number>();
  // Which kernels (by root) read each buffer: a buffer another kernel still reads must stay.
  const readers = new Map<number, number[]>();
  for (const gr of groups) {
    for (const r of gr.reads) {
      const list = readers.get(r);
      if (list) list.push(gr.root);
      else readers.set(r, [gr.root]);
    }
  }
  // Consumers first: the last kernel of a softmax claims the whole row computation.
  for (const gr of [...groups].sort((a, b) => b.root - a.root)) {
    if (gr.kind !== 'map' || absorbed.has(gr.root)) continue;
    const root = g.get(gr.root);
    const R = root.shape;
    if (R.length === 0) continue;
    const rowScalar = [...R.slice(0, -1), 1];
    const sameAs = (s: readonly number[], t: readonly number[]) =>
      s.length === t.length && s.every((d, i) => d === t[i]);
    const fits = (n: Node) =>
      (EPILOGUE_KINDS.has(getOp(n.op).kind) && (sameAs(n.shape, R) || sameAs(n.shape, rowScalar))) ||
      (isLastAxisReduce(n, R) && sameAs(g.get(n.inputs[0]).shape, R));
    if (!gr.nodes.every((id) => fits(g.get(id)))) continue;
    const members = new Set(gr.nodes);
    const reads = new Set(gr.reads);
    let grew = true;
    let reduces = 0;
    while (grew) {
      grew = false;
      for (const id of [...reads]) {
        const n = g.get(id);
        if (
          outputs.has(id) ||
          absorbed.has(id) ||
          pinned.has(id) ||
          n.op === 'input' ||
          n.op === 'param' ||
          n.op === 'const' ||
          !fits(n)
        )
          continue;
        if (!users[id].every((u) => members.has(u))) continue;
        if (!(readers.get(id) ?? []).every((root) => root === gr.root || members.has(root))) continue;
        members.add(id);
        reads.delete(id);
        if (isLastAxisReduce(n, R)) reduces++;
        for (const i of n.inputs)
          if (!members.has(i) && !(g.get(i).op === 'const' && numel(g.get(i).shape) === 1)) reads.add(i);
        grew = true;
      }
    }
    if (reduces === 0 && ![...members].some((id) => isLastAxisReduce(g.get(id), R))) continue;
    for (const id of members)
      if (id !== gr.root) {
        absorbed.add(id);
        materialized.delete(id);
      }
    // Reads that are not buffers (inlined views such as a broadcast mask) are computed inline too.
    const inline = new Set(members);
    const finalReads = new Set<number>();
    const visit = (id: number) => {
      const n = g.get(id);
      if (n.op === 'const' && numel(n.shape) === 1) return;
      if (!inline.has(id) && (materialized.has(id) || n.op === 'const')) {
        finalReads.add(id);
        return;
      }
      inline.add(id);
      for (const i of n.inputs) if (!inline.has(i)) visit(i);
    };
    for (const id of reads) visit(id);
    gr.kind = 'row';
    gr.nodes = [...inline].sort((a, b) => a - b);
    gr.reads = [...finalReads].sort((a, b) => a - b);
  }
  return groups.filter((gr) => !absorbed.has(gr.root));
}

/**
 * Matmul epilogues: a map group made only of same-shape elementwise nodes (bias, activation,
 * residual, scale, dropout mask) that consumes a single-use matmul absorbs it; the matmul
 * kernel then applies the epilogue to each accumulator before its one store.
 */
function fuseEpilogues(
  g: Graph,
  materialized: Set<number>,
  users: number[][],
  groups: Group[],
  pinned: Set<number>,
): Group[] {
  const outputs = new Set(g.outputs.values());
  const absorbed = new Set<number>();
  // How many kernels read each buffer: a matmul another kernel also reads (through an op that
  // kernel recomputes) must keep its buffer.
  const readers = new Map<number, number>();
  for (const gr of groups) for (const r of gr.reads) readers.set(r, (readers.get(r) ?? 0) + 1);
  for (const gr of groups) {
    if (gr.kind !== 'map') continue;
    const root = g.get(gr.root);
    const same = (id: number) => {
      const n = g.get(id);
      return (
        EPILOGUE_KINDS.has(getOp(n.op).kind) &&
        n.shape.length === root.shape.length &&
        n.shape.every((d, i) => d === root.shape[i])
      );
    };
    if (!gr.nodes.every(same)) continue;
    const m = gr.reads.find((id) => {
      const n = g.get(id);
      return (
        n.op === 'matmul' &&
        !outputs.has(id) &&
        !absorbed.has(id) &&
        !pinned.has(id) &&
        users[id].length === 1 &&
        readers.get(id) === 1 &&
        gr.nodes.includes(users[id][0]) &&
        n.shape.every((d, i) => d === root.shape[i])
      );
    });
    if (m === undefined) continue;
    absorbed.add(m);
    materialized.delete(m);
    gr.kind = 'matmul';
    gr.core = m;
    gr.nodes = [...gr.nodes, m].sort((a, b) => a - b);
    gr.reads = [...new Set([...gr.reads.filter((r) => r !== m), ...g.get(m).inputs])].sort((a, b) => a - b);
  }
  return groups.filter((gr) => !absorbed.has(gr.root));
}

/**
 * Sibling map kernels: map groups over the same number of elements become one kernel with
 * several outputs when the later one needs nothing computed in between (its reads are leaves,
 * buffers written before the earlier one, or the earlier one's outputs, which it then computes
 * inline) and the bindings fit. An optimizer's updates of one tensor (first and second moment)
 * are one dispatch instead of two, and share their loads of the gradient.
 */
function fuseSiblings(
  g: Graph,
  groups: Group[],
  alias: Map<number, number>,
  maxBindings: number,
  cost: (ids: readonly number[]) => number,
): Group[] {
  const at = new Map<number, number>(); // kernel root -> position
  groups.forEach((gr, i) => at.set(gr.root, i));
  const open = new Map<number, Group>(); // element count -> the map group siblings may join
  const absorbed = new Set<Group>();
  const outsOf = (gr: Group) => [gr.root, ...(gr.siblings ?? [])];
  for (const gr of groups) {
    if (gr.kind !== 'map' || alias.has(gr.root)) continue;
    const n = numel(g.get(gr.root).shape);
    const host = open.get(n);
    if (host) {
      const pos = at.get(host.root)!;
      const outs = new Set(outsOf(host));
      const ready = gr.reads.every((r) => {
        const id = alias.get(r) ?? r;
        const op = g.get(id).op;
        if (outs.has(id)) return id === r; // a reshape of an output would be read while written
        return op === 'input' || op === 'param' || op === 'const' || (at.get(id) ?? Number.POSITIVE_INFINITY) < pos;
      });
      const reads = [...new Set([...host.reads, ...gr.reads])].filter((r) => !outs.has(r));
      if (ready && cost(reads) + cost([...outs, gr.root]) <= maxBindings) {
        host.siblings = [...(host.siblings ?? []), gr.root];
        host.nodes = [...new Set([...host.nodes, ...gr.nodes, ...gr.reads.filter((r) => outs.has(r))])].sort(
          (a, b) => a - b,
        );
        host.reads = reads.sort((a, b) => a - b);
        absorbed.add(gr);
        continue;
      }
    }
    open.set(n, gr);
  }
  return groups.filter((gr) => !absorbed.has(gr));
}

/**
 * Packs written in place. A tree of concats along axis 0 of 1-D tensors, each part a tensor
 * (through reshapes, and a zero pad at its end) whose offset is a multiple of PACK_ALIGN, needs
 * no kernel: the part's writer (a kernel, or the upload of a param or input) writes into the
 * pack's buffer at the part's offset, and the pack is read as one buffer. The optimizer packs
 * gradients and params this way, so one kernel updates every tensor. A pack is in place only
 * whole: a part that cannot own a slice (a graph output, a tensor in two parts or two packs, a
 * misaligned offset) leaves the concats as ordinary kernels. Pad bytes are never written by a
 * part: the pack's buffer is zeroed once and never shared (passes/memory.ts).
 */
function packParts(g: Graph, users: number[][], outputs: Set<number>): PackParts {
  const parts: PackParts = new Map();
  const flatConcat = (n: Node) => n.op === 'concat' && n.shape.length === 1;
  const zeroTailPad = (n: Node) => {
    if (n.op !== 'pad' || n.shape.length !== 1) return false;
    const { before } = attrsOf(n, 'pad');
    return before[0] === 0;
  };
  for (const top of g.nodes) {
    if (!flatConcat(top) || users[top.id].some((u) => flatConcat(g.get(u)))) continue;
    const found = new Map<number, number>(); // part's tensor -> element offset
    let offset = 0;
    const place = (id: number): boolean => {
      const n = g.get(id);
      if (flatConcat(n)) return users[id].length === 1 && n.inputs.every(place);
      if (offset % PACK_ALIGN !== 0) return false;
      // A zero tail pad and reshapes change no element's place (other readers see them as views).
      let x = zeroTailPad(n) ? g.get(n.inputs[0]) : n;
      while (x.op === 'reshape') x = g.get(x.inputs[0]);
      if (outputs.has(x.id) || found.has(x.id) || parts.has(x.id)) return false;
      found.set(x.id, offset);
      offset += numel(n.shape);
      return true;
    };
    if (!top.inputs.every(place)) continue;
    for (const [id, at] of found) parts.set(id, { pack: top.id, offset: at });
  }
  return parts;
}

/** Reshapes of a buffer share it. */
function aliases(g: Graph, materialized: Set<number>): Map<number, number> {
  const alias = new Map<number, number>();
  for (const n of g.nodes) {
    if (n.op === 'reshape' && materialized.has(n.id) && materialized.has(n.inputs[0])) {
      const src = n.inputs[0];
      alias.set(n.id, alias.get(src) ?? src);
    }
  }
  return alias;
}

/** One group per materialized compute node (or only for `only`, treated as a root). */
function buildGroups(g: Graph, materialized: Set<number>, only?: number): Group[] {
  const groups: Group[] = [];
  const roots = only !== undefined ? [only] : g.nodes.filter((n) => materialized.has(n.id)).map((n) => n.id);
  for (const root of roots) {
    const n = g.get(root);
    if (n.op === 'input' || n.op === 'param' || n.op === 'const') continue;
    const nodes: number[] = [];
    const reads = new Set<number>();
    const seen = new Set<number>();
    const visit = (id: number, top: boolean) => {
      if (seen.has(id)) return;
      seen.add(id);
      const m = g.get(id);
      if (!top && (materialized.has(id) || (m.op === 'const' && numel(m.shape) !== 1))) {
        reads.add(id);
        return;
      }
      if (m.op === 'const') return; // scalar literal
      nodes.push(id);
      for (const i of m.inputs) visit(i, false);
    };
    visit(root, true);
    groups.push({
      kind: kernelKind(n),
      root,
      nodes: nodes.sort((a, b) => a - b),
      reads: [...reads].sort((a, b) => a - b),
    });
  }
  return groups;
}
