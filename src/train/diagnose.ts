/**
 * Where a training step first went non-finite. The NaN guard sees only the step's losses and
 * gradient norms; this replays the run from the start of the failing epoch to the step before,
 * takes its weights (still finite), and evaluates the step's whole forward and backward graph
 * on the Float64 reference to name the first node, in order, whose value is NaN or beyond
 * float32's range: its op, layer scope, shape, and the ranges of the inputs that fed it.
 */
import { autodiff } from '../compiler/autodiff.ts';
import type { Graph, Node } from '../compiler/ir/graph.ts';
import { Value } from '../compiler/ir/value.ts';
import { firstNonFinite } from '../compiler/reference.ts';
import { shapeStr } from '../compiler/ir/graph.ts';
import { leafName } from '../compiler/ir/attrs.ts';

const fmt = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(3)).toString() : String(x));

function range(v: Value): string {
  let lo = Infinity;
  let hi = -Infinity;
  let bad = 0;
  for (const x of v.data) {
    if (Number.isNaN(x)) bad++;
    else {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
  }
  return `range [${fmt(lo)}, ${fmt(hi)}]${bad ? `, ${bad} NaN` : ''}`;
}

function describe(n: Node): string {
  const name = n.op === 'param' || n.op === 'input' ? ` '${leafName(n)}'` : '';
  return `${n.op}${name} %${n.id}${n.scope ? ` in '${n.scope}'` : ''} ${shapeStr(n.shape)}`;
}

/** A sentence naming the first non-finite value of `forward`'s step on these weights and inputs, or null. */
export function diagnoseStep(
  forward: Graph,
  weights: Record<string, ArrayLike<number>>,
  inputs: Record<string, ArrayLike<number>>,
): string | null {
  const { graph } = autodiff(forward, { loss: 'loss' });
  const params = Object.fromEntries([...graph.params()].map(([k, n]) => [k, Value.of(n.shape, weights[k])]));
  const feeds = Object.fromEntries([...graph.inputs()].map(([k, n]) => [k, Value.of(n.shape, inputs[k], n.dtype)]));
  const hit = firstNonFinite(graph, { params, inputs: feeds });
  if (!hit) return null;
  const where = hit.node.shape.length ? ` at flat index ${hit.index}` : '';
  const fed = hit.node.inputs.map((id, i) => `${describe(graph.get(id))} (${range(hit.inputs[i])})`).join('; ');
  return `first in order: ${describe(hit.node)} = ${fmt(hit.value.data[hit.index])}${where}${fed ? `; its inputs: ${fed}` : ''}`;
}
