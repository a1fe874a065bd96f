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
 * - No kernel binds more storage buffers than the device allows: a group over the limit
 *   materializes its widest inlined input and is regrouped.
 */
import { numel, type Graph, type Node } from '../ir/graph.ts';
import { getOp } from '../ops/index.ts';

export type KernelKind = 'map' | 'reduce' | 'matmul' | 'scatter';

export interface Group {
  kind: KernelKind;
  /** The materialized node this kernel writes. */
  root: number;
  /** Nodes computed inside the kernel (root included). */
  nodes: number[];
  /** Materialized nodes the kernel reads. */
  reads: number[];
}

export interface FusionOptions {
  fuse: boolean;
  /** maxStorageBuffersPerShaderStage. */
  maxBindings: number;
}

export interface Fusion {
  /** Nodes with their own storage (leaves, kernel roots, aliases). */
  materialized: Set<number>;
  /** reshape node -> node whose buffer it shares. */
  alias: Map<number, number>;
  groups: Group[];
}

const INLINE_KINDS = new Set(['unary', 'binary', 'where', 'cast', 'layout', 'index', 'random']);
const VIEW_OPS = new Set(['reshape', 'broadcast', 'permute', 'slice']);

export function kernelKind(n: Node): KernelKind {
  if (n.op === 'matmul') return 'matmul';
  if (n.op === 'sum' || n.op === 'max_reduce') return 'reduce';
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
    if (!INLINE_KINDS.has(def.kind) || (n.op === 'scatter_add')) return true;
    if (!opts.fuse) return true;
    const us = users[n.id].map((u) => g.get(u));
    // Feeding a matmul, a gather's index, or a scatter's index needs a buffer.
    for (const u of us) {
      if (u.op === 'matmul') return true;
      if (u.op === 'scatter_add' && u.inputs[0] === n.id) return true;
    }
    if (us.length === 1) return false;
    // Several consumers: recompute only free index views of a buffer.
    return !(VIEW_OPS.has(n.op) && materialized.has(n.inputs[0]));
  };
  for (const n of g.nodes) if (mustMaterialize(n)) materialized.add(n.id);

  for (;;) {
    const groups = buildGroups(g, materialized);
    const over = groups.find((gr) => gr.reads.length + 1 > opts.maxBindings);
    if (!over) return { materialized, alias: aliases(g, materialized), groups };
    // Materialize the inlined node that reads the most buffers, then regroup.
    const inner = over.nodes.filter((id) => id !== over.root);
    if (inner.length === 0) throw new Error(`fuse: ${g.get(over.root).op} %${over.root} reads ${over.reads.length} buffers, over the limit ${opts.maxBindings}`);
    const width = (id: number) => buildGroups(g, materialized, id)[0].reads.length;
    const widest = inner.reduce((best, id) => (width(id) > width(best) ? id : best));
    materialized.add(widest);
  }
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
    groups.push({ kind: kernelKind(n), root, nodes: nodes.sort((a, b) => a - b), reads: [...reads].sort((a, b) => a - b) });
  }
  return groups;
}
