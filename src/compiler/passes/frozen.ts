/**
 * Frozen-subgraph caching. The part of a forward graph that reads only per-example inputs,
 * frozen params and constants, with no random draw, gives an example the same values at every
 * step (a frozen vision tower, frozen embeddings): it need not run every step. This pass finds
 * that part's frontier (the tensors the rest of the graph reads) and splits the graph in two:
 * a feature graph (per-example inputs -> frontier tensors), run once per example, and a step
 * graph that reads the frontier tensors as inputs. Values are unchanged: the feature graph runs
 * the same ops on the same values.
 *
 * Only tensors laid out batch-major are cached (the flat layout is one contiguous block per
 * example, so a batch is assembled from per-example blocks): the rules below propagate that
 * through the ops that keep the leading axis apart, and anything else stays in the step.
 */
import { numel, type Graph, type Node, type Shape } from '../ir/graph.ts';
import { getOp, type OpDef } from '../ops/index.ts';
import { isLayoutOp, type LayoutOp } from '../ir/op-names.ts';
import { rewrite } from './rewrite.ts';
import { liveNodes } from '../reference.ts';
import { attrsOf, leafName, paramInfo } from '../ir/attrs.ts';

export interface CachedTensor {
  /** The step graph's input that carries it. */
  name: string;
  shape: Shape;
  dtype: Node['dtype'];
  /** Elements per example. */
  perExample: number;
  /** Where it was computed (a layer path). */
  scope?: string;
}

export interface FrozenSplit {
  tensors: CachedTensor[];
  /** Per-example inputs -> the cached tensors (outputs by name). */
  features: Graph;
  /** The forward graph reading the cached tensors as inputs; what they replace is gone. */
  step: Graph;
  /** Forward nodes that no longer run every step, of forwardNodes. */
  nodesCached: number;
  forwardNodes: number;
}

const ids = (nodes: Node[]) => new Set(nodes.map((n) => n.id));

/** batch-free: depends on no example; major: batch-major and cacheable; no: neither. */
type State = 'free' | 'major' | 'no';

/** Ops whose result is worth storing rather than recomputing from its inputs. */
const WORK = new Set(['matmul', 'reduce', 'index']);

/** What a rule sees: the node, its inputs and their states, and the batch. */
interface MajorArgs {
  n: Node;
  ins: Node[];
  st: State[];
  /** The inputs that are batch-major. */
  major: Node[];
  /** Whether an operand keeps its leading axis where the result has it. */
  aligned: (x: Node) => boolean;
}
type MajorRule = (a: MajorArgs) => boolean;

/** Layout ops: whether each keeps the batch axis leading (and whole). Kept complete by tsc. */
const LAYOUT_MAJOR: { [K in LayoutOp]: MajorRule } = {
  reshape: () => true, // same flat layout, and lead % batch === 0 (checked before)
  broadcast: ({ major, aligned }) => major.every(aligned),
  concat: ({ n, major, aligned }) => major.every(aligned) && attrsOf(n, 'concat').axis !== 0,
  permute: ({ n }) => attrsOf(n, 'permute').perm[0] === 0,
  slice: ({ n, ins }) => (({ starts, ends }) => starts[0] === 0 && ends[0] === ins[0].shape[0])(attrsOf(n, 'slice')),
  pad: ({ n }) => (({ before, after }) => before[0] === 0 && after[0] === 0)(attrsOf(n, 'pad')),
};

/** Per kind of op (the op table's kinds): whether a node with some batch-major inputs stays batch-major. */
const KIND_MAJOR: { [K in OpDef['kind']]: MajorRule } = {
  leaf: () => false,
  unary: ({ major, aligned }) => major.every(aligned),
  binary: ({ major, aligned }) => major.every(aligned),
  where: ({ major, aligned }) => major.every(aligned),
  cast: ({ major, aligned }) => major.every(aligned),
  // Over the last axis, which is not the batch axis.
  row: ({ n, major, aligned }) => n.shape.length >= 2 && major.every(aligned),
  reduce: ({ n, major }) =>
    (({ axes, keepdims }) => !axes.includes(0) && (keepdims || major.every((x) => x.shape[0] === n.shape[0])))(
      attrsOf(n, 'sum', 'max_reduce'),
    ),
  // gather: a batch-free table indexed by batch-major ids (scatter_add sums over examples: never).
  index: ({ n, ins, st }) => n.op === 'gather' && st[0] === 'free' && ins[1].shape[0] === n.shape[0],
  // [B*m, K] @ [K, N]: rows stay with their example; batched matmuls keep the leading axis.
  matmul: ({ n, st, major, aligned }) =>
    n.shape.length === 2 ? st[0] === 'major' && st[1] === 'free' && !attrsOf(n, 'matmul').transA : major.every(aligned),
  layout: (a) => isLayoutOp(a.n.op) && LAYOUT_MAJOR[a.n.op](a),
  // A random draw depends on the seed, which changes every step: never cached.
  random: () => false,
};

/** Whether node n, some of whose inputs are batch-major (the rest batch-free), is batch-major. */
function staysMajor(n: Node, ins: Node[], st: State[], batch: number): boolean {
  const lead = n.shape[0];
  if (n.shape.length === 0 || lead % batch !== 0) return false;
  const major = ins.filter((_, k) => st[k] === 'major');
  const aligned = (x: Node) => x.shape.length === n.shape.length && x.shape[0] === lead;
  return KIND_MAJOR[getOp(n.op).kind]({ n, ins, st, major, aligned });
}

/** Element operations a cached tensor saves per step: its own and those of its ancestry the step no longer needs. */
function savedWork(g: Graph, f: number, needed: Set<number>): number {
  let total = 0;
  const seen = new Set<number>();
  const stack = [f];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id) || (id !== f && needed.has(id))) continue;
    seen.add(id);
    const n = g.get(id);
    const kind = getOp(n.op).kind;
    if (kind === 'matmul')
      total +=
        numel(n.shape) *
        (attrsOf(n, 'matmul').transA ? g.get(n.inputs[0]).shape.at(-2)! : g.get(n.inputs[0]).shape.at(-1)!);
    else if (kind === 'reduce') total += numel(g.get(n.inputs[0]).shape);
    else if (kind !== 'leaf') total += numel(n.shape);
    stack.push(...n.inputs);
  }
  return total;
}

/**
 * The split of `g` (lowered at `batch`), or null when no cached tensor would save work. A
 * per-example input is an input whose leading axis is the batch (images, token ids, masks).
 */
export function splitFrozen(g: Graph, batch: number): FrozenSplit | null {
  const state: State[] = [];
  const work: boolean[] = [];
  for (const n of g.nodes) {
    const ins = n.inputs.map((i) => g.get(i));
    let s: State;
    if (n.op === 'input') s = n.shape.length > 0 && n.shape[0] === batch ? 'major' : 'no';
    else if (n.op === 'param') s = paramInfo(n).trainable ? 'no' : 'free';
    else if (n.op === 'const') s = 'free';
    else if (getOp(n.op).kind === 'random' || ins.some((x) => state[x.id] === 'no')) s = 'no';
    else if (ins.every((x) => state[x.id] === 'free')) s = 'free';
    else
      s = staysMajor(
        n,
        ins,
        ins.map((x) => state[x.id]),
        batch,
      )
        ? 'major'
        : 'no';
    state.push(s);
    work.push(s === 'major' && (WORK.has(getOp(n.op).kind) || ins.some((x) => work[x.id])));
  }
  // The frontier: batch-major tensors, computed with real work, that the step reads. Only live
  // readers count: an LM's unused pooled feature once put its token count among the cached
  // tensors, which the step (dead code removed) then had no input for.
  const users = g.users();
  const outputs = new Set(g.outputs.values());
  const live = ids(liveNodes(g, g.outputs.values()));
  const front = new Set(
    g.nodes
      .filter(
        (n) =>
          work[n.id] &&
          live.has(n.id) &&
          (outputs.has(n.id) || users[n.id].some((u) => live.has(u) && state[u] === 'no')),
      )
      .map((n) => n.id),
  );
  // What the step still computes, reading the frontier as inputs.
  const stepNodes = () => ids(liveNodes(g, g.outputs.values(), (id) => front.has(id)));
  // A cached tensor must save more work than uploading it costs: drop those that do not (their
  // ancestry is computed by the step anyway), until every one left does.
  let needed = stepNodes();
  for (;;) {
    const drop = [...front].filter((f) => savedWork(g, f, needed) <= 8 * numel(g.get(f).shape));
    if (drop.length === 0) break;
    for (const f of drop) front.delete(f);
    needed = stepNodes();
  }
  const frontier = [...front].sort((a, b) => a - b).map((id) => g.get(id));
  if (frontier.length === 0) return null;
  const names = new Map(frontier.map((n) => [n.id, `frozen:%${n.id}`]));
  const tensors = frontier.map((n) => ({
    name: names.get(n.id)!,
    shape: [...n.shape],
    dtype: n.dtype,
    perExample: numel(n.shape) / batch,
    scope: n.scope,
  }));

  // Step graph: the frontier become inputs; what only they needed is dropped.
  const step = rewrite(
    g,
    (n, out) => {
      const name = names.get(n.id);
      return name === undefined
        ? undefined
        : out.push({
            op: 'input',
            inputs: [],
            attrs: { name, shape: [...n.shape], dtype: n.dtype },
            shape: n.shape,
            dtype: n.dtype,
            scope: n.scope,
          }).id;
    },
    (n) => needed.has(n.id),
  );

  // Feature graph: the frontier's ancestry, the frontier as its outputs.
  const ancestry = ids(liveNodes(g, front));
  const at = new Map<number, number>();
  const features = rewrite(
    g,
    (n, out) => {
      if (!names.has(n.id)) return undefined;
      const id = out.push(n).id;
      at.set(n.id, id);
      return id;
    },
    (n) => ancestry.has(n.id),
  );
  features.outputs.clear();
  for (const n of frontier) features.outputs.set(names.get(n.id)!, at.get(n.id)!);
  const read = step.inputs();
  for (const t of tensors)
    if (!read.has(t.name)) throw new Error(`splitFrozen: cached tensor ${t.name} is not read by the step`);
  const nodesCached = [...ancestry].filter((id) => !needed.has(id)).length;
  return { tensors, features, step, nodesCached, forwardNodes: g.nodes.length };
}

/**
 * The step reading its cached tensors from tables of every example's block kept on the device:
 * input `frozen:%id` of shape [lead, ...rest] becomes gather(`table:frozen:%id`
 * [examples * m, ...rest], `frozen:rows:<m>` [lead]), m = lead / batch rows per example. The
 * trainer uploads the tables once and each step sends only the row ids; the gather is index
 * arithmetic inside the kernels that read it. Same values: a gather copies exactly.
 */
export function residentStep(split: FrozenSplit, batch: number, examples: number): Graph {
  const cached = new Set(split.tensors.map((t) => t.name));
  return rewrite(split.step, (n, out) => {
    if (n.op !== 'input' || !cached.has(leafName(n))) return undefined;
    const m = n.shape[0] / batch;
    const rest = n.shape.slice(1);
    const input = (name: string, shape: number[], dtype: Node['dtype']) =>
      out.leaf('input', name)?.id ??
      out.push({ op: 'input', inputs: [], attrs: { name, shape, dtype }, shape, dtype, scope: n.scope }).id;
    const table = input(`table:${leafName(n)}`, [examples * m, ...rest], n.dtype);
    const rows = input(`frozen:rows:${m}`, [n.shape[0]], 'i32');
    return out.push({ op: 'gather', inputs: [table, rows], attrs: {}, shape: n.shape, dtype: n.dtype, scope: n.scope })
      .id;
  });
}
