/**
 * Inference merging as a weight transform between a training graph's params and the merged
 * inference graph's (lowerModel with { mode: 'infer', merged: true }):
 * - MixPHM / AdaMix: expert-stacked factors [E, ...] -> their mean, factor by factor;
 * - LoRA without routing: W0 + (alpha/r) A B, and A, B dropped.
 */
import type { Graph } from '../ir/graph.ts';
import type { ModelSpec } from '../../dsl/spec.ts';
import { matches } from '../../dsl/paths.ts';

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
  // Fold plain LoRA into its base weight: W += (alpha/r) A B.
  for (const p of spec.insertions) {
    if (p.method !== 'lora' || p.routing !== 'none') continue;
    for (const name of Object.keys(trained)) {
      const m = /^(.*)\.lora\.A$/.exec(name);
      if (!m || !matches(p.at, m[1])) continue;
      const W = out[`${m[1]}.W`];
      const A = trained[name];
      const B = trained[`${m[1]}.lora.B`];
      const r = p.rank;
      const din = A.length / r;
      const dout = B.length / r;
      const s = (p.alpha ?? r) / r;
      for (let i = 0; i < din; i++)
        for (let k = 0; k < r; k++) {
          const a = A[i * r + k] * s;
          if (a !== 0) for (let j = 0; j < dout; j++) W[i * dout + j] += a * B[k * dout + j];
        }
    }
  }
  return out;
}
