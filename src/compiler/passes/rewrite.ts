/**
 * The one mechanism every graph pass uses: rebuild a graph node by node. `visit` sees each node
 * with its inputs already mapped into the new graph and returns the id it maps to, or
 * undefined to copy the node unchanged.
 */
import { Graph, type Node } from '../ir/graph.ts';

export type Visit = (n: Node, out: Graph) => number | undefined;

export function rewrite(g: Graph, visit: Visit, keep?: (n: Node) => boolean): Graph {
  const out = new Graph();
  const map = new Int32Array(g.nodes.length).fill(-1);
  for (const n of g.nodes) {
    if (keep && !keep(n)) continue;
    // An input `keep` dropped maps to -1: visit must then replace the node (or this throws).
    const mapped: Node = { ...n, inputs: n.inputs.map((i) => map[i]) };
    const id = visit(mapped, out);
    if (id === undefined && mapped.inputs.some((i) => i < 0))
      throw new Error(`rewrite: %${n.id} (${n.op}) uses a dropped node`);
    map[n.id] = id ?? out.push(mapped).id;
  }
  for (const [name, id] of g.outputs) out.outputs.set(name, map[id]);
  return out;
}
