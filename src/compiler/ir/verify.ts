/**
 * The graph verifier: every node's inputs come before it, and its shape and dtype are what the
 * op table infers from its inputs and attributes. compile() runs it after each stage when asked
 * (`verify`, or PEFTGRAPH_VERIFY=1, as the tests set it): a pass that breaks the graph is caught
 * where it did, not as a wrong number later.
 */
import { getOp } from '../ops/index.ts';
import { sameShape, shapeStr, type Graph } from './graph.ts';

export function verifyGraph(g: Graph, stage: string): void {
  const fail = (msg: string) => {
    throw new Error(`verify after ${stage}: ${msg}`);
  };
  g.nodes.forEach((n, i) => {
    if (n.id !== i) fail(`node at position ${i} has id %${n.id}`);
    for (const j of n.inputs)
      if (!(j >= 0 && j < n.id)) fail(`%${n.id} (${n.op}) reads %${j}, which does not come before it`);
    if (n.op === 'input' || n.op === 'param' || n.op === 'const') return;
    const inferred = getOp(n.op).infer(
      n.inputs.map((j) => g.get(j)),
      n.attrs,
      `${n.op} %${n.id}`,
    );
    if (!sameShape(inferred.shape, n.shape) || inferred.dtype !== n.dtype)
      fail(
        `%${n.id} (${n.op}${n.scope ? ` in '${n.scope}'` : ''}) is ${n.dtype}${shapeStr(n.shape)}, its inputs make it ${inferred.dtype}${shapeStr(inferred.shape)}`,
      );
  });
  for (const [name, id] of g.outputs)
    if (!(id >= 0 && id < g.nodes.length)) fail(`output '${name}' names %${id}, which does not exist`);
}
