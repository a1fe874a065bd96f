/** Merge equivalence: a spec's merged inference graph, on mergeWeights' output, gives the unmerged graph's logits (Float64 reference). */
import { expect } from 'vitest';
import type { ModelSpec } from '../../src/dsl/spec.ts';
import type { Graph } from '../../src/compiler/ir/graph.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { mergeWeights } from '../../src/compiler/lower/merge.ts';
import { evaluate } from '../../src/compiler/reference.ts';

/**
 * `params(graph)` draws the unmerged inference graph's params; `tag` names the method, whose
 * params the merged graph must not have. Returns nothing: it asserts.
 */
export function expectMergesExactly(
  spec: ModelSpec,
  tag: string,
  params: (g: Graph) => Record<string, Value>,
  inputs: Record<string, Value>,
): void {
  const a = lowerModel(spec, { batch: 2, mode: 'infer' });
  const m = lowerModel(spec, { batch: 2, mode: 'infer', merged: true });
  expect([...m.graph.params().keys()].filter((k) => k.includes(tag))).toEqual([]);
  const p = params(a.graph);
  const merged = mergeWeights(spec, Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.data])), m.graph);
  const mergedParams = Object.fromEntries(
    Object.entries(merged).map(([k, v]) => [k, new Value(m.graph.params().get(k)!.shape, v)]),
  );
  const ya = evaluate(a.graph, { params: p, inputs }, ['logits']).logits;
  const ym = evaluate(m.graph, { params: mergedParams, inputs }, ['logits']).logits;
  expect(ya.data.length).toBeGreaterThan(0);
  ya.data.forEach((v, i) => expect(ym.data[i]).toBeCloseTo(v, 10));
}
