/**
 * Reverse-mode autodiff as a graph transform. From a forward graph, a scalar loss output and
 * the trainable params, it appends the backward graph built from each op's VJP rule and adds
 * `grad:<param>` outputs. Backward work is pruned to the nodes that lie on a path from a
 * trainable param to the loss: frozen weights get no gradient, and nothing below the lowest
 * trainable insertion is differentiated. This pruning is where PEFT saves its time.
 */
import { Graph, shapeStr, type Node, type ParamInfo } from './ir/graph.ts';
import { Builder, type Tensor } from './builder.ts';
import { getOp } from './ops/index.ts';
import { leafName, paramInfo } from './ir/attrs.ts';

export interface AutodiffOptions {
  /** Name of the scalar output to differentiate. */
  loss: string;
  /** Which params get gradients; default: those declared trainable. */
  trainable?: (name: string, info: ParamInfo) => boolean;
}

export interface AutodiffReport {
  forwardNodes: number;
  backwardNodes: number;
  /** Forward compute nodes that got no backward work (frozen trunk, nondifferentiable paths). */
  prunedNodes: number;
  /** Forward compute nodes on a gradient path. */
  differentiatedNodes: number;
  trainableParams: string[];
  frozenParams: string[];
}

export function gradName(param: string): string {
  return `grad:${param}`;
}

export function autodiff(forward: Graph, opts: AutodiffOptions): { graph: Graph; report: AutodiffReport } {
  const lossId = forward.outputs.get(opts.loss);
  if (lossId === undefined)
    throw new Error(`autodiff: no output '${opts.loss}'; outputs: ${[...forward.outputs.keys()].join(', ')}`);
  const lossNode = forward.get(lossId);
  if (lossNode.shape.length !== 0)
    throw new Error(`autodiff: loss '${opts.loss}' must be a scalar, got ${shapeStr(lossNode.shape)}`);

  const g = new Graph();
  for (const n of forward.nodes) g.adopt(n);
  for (const [k, v] of forward.outputs) g.outputs.set(k, v);
  const b = new Builder(g);

  const isTrainable = (n: Node) => {
    const info = paramInfo(n);
    return opts.trainable ? opts.trainable(info.name, info) : info.trainable;
  };
  const params = [...forward.params().values()];
  const trainable = params.filter(isTrainable);

  // Forward reach: depends on a trainable param through differentiable ops.
  const reach = new Uint8Array(forward.nodes.length);
  for (const n of forward.nodes) {
    if (n.op === 'param') reach[n.id] = isTrainable(n) ? 1 : 0;
    else if (getOp(n.op).vjp) reach[n.id] = n.inputs.some((i) => reach[i]) ? 1 : 0;
  }
  // Backward reach: and leads to the loss.
  const needs = new Uint8Array(forward.nodes.length);
  const stack = reach[lossId] ? [lossId] : [];
  while (stack.length) {
    const id = stack.pop()!;
    if (needs[id]) continue;
    needs[id] = 1;
    for (const i of forward.get(id).inputs) if (reach[i]) stack.push(i);
  }

  const contributions = new Map<number, Tensor[]>();
  const addGrad = (id: number, t: Tensor) => contributions.set(id, [...(contributions.get(id) ?? []), t]);
  if (needs[lossId]) addGrad(lossId, b.constant(1, [], lossNode.dtype));

  for (let id = lossId; id >= 0; id--) {
    if (!needs[id]) continue;
    const n = forward.get(id);
    const parts = contributions.get(id);
    if (!parts) continue;
    const grad = b.scope(`grad(${n.scope ?? ''})`, () => parts.reduce((acc, p) => acc.add(p)));
    contributions.delete(id);
    if (n.op === 'param') {
      g.outputs.set(gradName(leafName(n)), grad.id);
      continue;
    }
    const def = getOp(n.op);
    const inputs = n.inputs.map((i) => b.t(i));
    const grads = b.scope(`grad(${n.scope ?? ''})`, () => def.vjp!(b, { inputs, out: b.t(id), grad, attrs: n.attrs }));
    n.inputs.forEach((inp, k) => {
      const gk = grads[k];
      if (needs[inp] && gk) addGrad(inp, gk);
    });
  }

  // A trainable param the loss does not reach still gets a (zero) gradient, so optimizers see every param.
  for (const p of trainable) {
    const name = gradName(leafName(p));
    if (!g.outputs.has(name)) g.outputs.set(name, b.constant(0, p.shape, p.dtype).id);
  }

  let computeNodes = 0;
  let differentiated = 0;
  for (const n of forward.nodes) {
    if (n.op === 'input' || n.op === 'param' || n.op === 'const') continue;
    computeNodes++;
    if (needs[n.id]) differentiated++;
  }
  return {
    graph: g,
    report: {
      forwardNodes: forward.nodes.length,
      backwardNodes: g.nodes.length - forward.nodes.length,
      prunedNodes: computeNodes - differentiated,
      differentiatedNodes: differentiated,
      trainableParams: trainable.map((p) => leafName(p)),
      frozenParams: params.filter((p) => !isTrainable(p)).map((p) => leafName(p)),
    },
  };
}
