/**
 * Inference merging as a weight transform between a training graph's params and the merged
 * inference graph's (lowerModel with { mode: 'infer', merged: true }):
 * - MixPHM / AdaMix: expert-stacked factors [E, ...] -> their mean, factor by factor;
 * - methods whose merge folds them into the weights (plain LoRA, (IA)^3): their fold rule.
 */
import type { Graph } from '../ir/graph.ts';
import type { ModelSpec } from '../../dsl/spec.ts';
import { methodFor } from './peft/registry.ts';

export type Weights = Record<string, Float32Array | Float64Array | number[]>;

function meanLeading(x: ArrayLike<number>, experts: number): Float64Array {
  const n = x.length / experts;
  const out = new Float64Array(n);
  for (let e = 0; e < experts; e++) for (let i = 0; i < n; i++) out[i] += x[e * n + i] / experts;
  return out;
}

export function mergeWeights(spec: ModelSpec, trained: Weights, merged: Graph): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  const shapes = merged.params();
  for (const [name, node] of shapes) {
    const src = trained[name];
    if (!src) throw new Error(`mergeWeights: trained weights lack '${name}'`);
    const size = node.shape.reduce((p, q) => p * q, 1);
    out[name] = src.length === size ? Float64Array.from(src) : meanLeading(src, src.length / size);
  }
  // Methods merging folds into the weights (plain LoRA, (IA)^3) add their effect to the backbone.
  for (const p of spec.insertions) {
    const m = methodFor(p);
    if (m.merge?.folds(p)) m.merge.fold(p, trained, out);
  }
  return out;
}
