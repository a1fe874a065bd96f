/** Exporting merged inference weights (MixPHM/AdaMix experts averaged, LoRA folded) as safetensors. */
import type { ModelSpec } from '../dsl/spec.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import { mergeWeights } from '../compiler/lower/merge.ts';
import { valuesOf, type WeightMap } from '../runtime/half.ts';
import { encodeSafetensors, writeAtomic, type TensorEntry } from '../runtime/safetensors.ts';

/** Writes every param of the merged inference graph; returns the number of values written. */
export function exportMerged(path: string, spec: ModelSpec, weights: WeightMap, batch: number): number {
  const { graph } = lowerModel(spec, { batch, mode: 'infer', merged: true });
  // Merging folds in f32: 16-bit frozen weights are widened (exactly) here.
  const merged = mergeWeights(spec, Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, Float32Array.from(valuesOf(v))])), graph);
  const tensors = new Map<string, TensorEntry>();
  let count = 0;
  for (const [name, n] of graph.params()) {
    tensors.set(name, { shape: [...n.shape], data: Float32Array.from(merged[name]) });
    count += merged[name].length;
  }
  writeAtomic(path, encodeSafetensors(tensors, { format: 'peftgraph-merged-1', spec: JSON.stringify(spec) }));
  return count;
}
