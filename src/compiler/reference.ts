/**
 * The CPU reference interpreter: evaluates a graph in Float64 through each op's `ref`.
 * It is the oracle every kernel and every compiler pass is checked against.
 */
import { sameShape, shapeStr, type Graph, type Node } from './ir/graph.ts';
import type { Value } from './ir/value.ts';
import { getOp } from './ops/index.ts';
import { leafName } from './ir/attrs.ts';

export interface Feeds {
  inputs?: Record<string, Value>;
  params?: Record<string, Value>;
}

/** Nodes needed to compute `roots`, in topological (id) order; `stop` nodes count as given (their inputs are not needed for them). */
export function liveNodes(g: Graph, roots: Iterable<number>, stop: (id: number) => boolean = () => false): Node[] {
  const need = new Uint8Array(g.nodes.length);
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop()!;
    if (need[id]) continue;
    need[id] = 1;
    if (!stop(id)) stack.push(...g.get(id).inputs);
  }
  return g.nodes.filter((n) => need[n.id]);
}

function leafValue(n: Node, feeds: Feeds): Value {
  const name = leafName(n);
  const src = n.op === 'input' ? feeds.inputs : feeds.params;
  const v = src?.[name];
  if (!v) throw new Error(`reference: no value fed for ${n.op} '${name}' ${shapeStr(n.shape)}`);
  if (!sameShape(v.shape, n.shape))
    throw new Error(`reference: ${n.op} '${name}' fed ${shapeStr(v.shape)}, expected ${shapeStr(n.shape)}`);
  return v;
}

/** Evaluates the named outputs (all of them by default). */
export function evaluate(g: Graph, feeds: Feeds, outputs: string[] = [...g.outputs.keys()]): Record<string, Value> {
  const ids = outputs.map((o) => {
    const id = g.outputs.get(o);
    if (id === undefined)
      throw new Error(`reference: graph has no output '${o}'; outputs: ${[...g.outputs.keys()].join(', ')}`);
    return id;
  });
  const vals = evaluateNodes(g, feeds, ids);
  return Object.fromEntries(outputs.map((o, i) => [o, vals.get(ids[i])!]));
}

export function evaluateNodes(g: Graph, feeds: Feeds, roots: number[]): Map<number, Value> {
  const vals = new Map<number, Value>();
  for (const n of liveNodes(g, roots)) {
    if (n.op === 'input' || n.op === 'param') {
      vals.set(n.id, leafValue(n, feeds));
      continue;
    }
    const ins = n.inputs.map((i) => vals.get(i)!);
    const v = getOp(n.op).ref(ins, n.attrs, n);
    if (!sameShape(v.shape, n.shape))
      throw new Error(`reference: ${n.op} %${n.id} produced ${shapeStr(v.shape)}, node says ${shapeStr(n.shape)}`);
    vals.set(n.id, v);
  }
  return vals;
}

const F32_MAX = 3.4028234663852886e38;

/** The first node, in evaluation order, whose value is not finite in float32 (NaN, or beyond f32's range). */
export function firstNonFinite(
  g: Graph,
  feeds: Feeds,
): { node: Node; value: Value; index: number; inputs: Value[] } | null {
  const vals = new Map<number, Value>();
  for (const n of liveNodes(g, g.outputs.values())) {
    let v: Value;
    if (n.op === 'input' || n.op === 'param') v = leafValue(n, feeds);
    else
      v = getOp(n.op).ref(
        n.inputs.map((i) => vals.get(i)!),
        n.attrs,
        n,
      );
    const bad = v.data.findIndex((x) => !(Math.abs(x) <= F32_MAX));
    if (bad >= 0) return { node: n, value: v, index: bad, inputs: n.inputs.map((i) => vals.get(i)!) };
    vals.set(n.id, v);
  }
  return null;
}
