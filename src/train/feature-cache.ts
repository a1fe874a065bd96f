/**
 * Frozen features per example (compiler/passes/frozen.ts) on the trainer's side: the feature
 * graph runs once over the training set and each example keeps its block of every cached tensor
 * (feature-plan.ts decides whether they then stay on the device or stream per batch).
 */
import { compile } from '../compiler/compile.ts';
import type { PlanOptions } from '../compiler/plan.ts';
import type { FrozenSplit } from '../compiler/passes/frozen.ts';
import { makeBatch, type Dataset, type Example } from '../runtime/batches.ts';
import type { Gpu } from '../runtime/device.ts';
import { Executor } from '../runtime/executor.ts';
import { profileOf } from '../runtime/profile.ts';
import type { WeightMap } from '../runtime/half.ts';

export interface CacheReport {
  tensors: number;
  bytesPerExample: number;
  examples: number;
  /** Forward nodes that run once per example instead of every step. */
  nodesCached: number;
  forwardNodes: number;
  seconds: number;
  /** Kept on the device as tables (each step sends row ids), rather than streamed per batch. */
  resident?: boolean;
}

/**
 * The training set with each example's cached blocks added under the tensors' names, and only
 * the raw inputs the step still reads kept. `weights` must hold the frozen params.
 */
export async function cacheFeatures(
  gpu: Gpu,
  split: FrozenSplit,
  ds: Dataset,
  weights: WeightMap,
  batch: number,
  plan?: PlanOptions,
): Promise<{ data: Dataset; report: CacheReport }> {
  const t0 = performance.now();
  const { plan: p } = compile(split.features, { batch, mode: 'infer', profile: profileOf(gpu), plan });
  const ex = await Executor.create(gpu, p);
  const keep = new Set(split.step.inputs().keys());
  const examples: Example[] = ds.examples.map((e) =>
    Object.fromEntries(Object.entries(e).filter(([k]) => keep.has(k))),
  );
  try {
    for (const name of Object.keys(p.params)) ex.setParam(name, weights[name]);
    const names = split.tensors.map((t) => t.name);
    for (let start = 0; start < ds.examples.length; start += batch) {
      const idx = [...Array(Math.min(batch, ds.examples.length - start)).keys()].map((k) => start + k);
      const { inputs, valid } = makeBatch(ds, idx, batch);
      const out = await ex.run(Object.fromEntries(Object.entries(inputs).filter(([k]) => p.inputs[k])), names);
      for (const t of split.tensors)
        for (let b = 0; b < valid; b++)
          examples[idx[b]][t.name] = out[t.name].slice(b * t.perExample, (b + 1) * t.perExample);
    }
  } finally {
    ex.destroy();
  }
  const report: CacheReport = {
    tensors: split.tensors.length,
    bytesPerExample: split.tensors.reduce((s, t) => s + t.perExample * 4, 0),
    examples: ds.examples.length,
    nodesCached: split.nodesCached,
    forwardNodes: split.forwardNodes,
    seconds: (performance.now() - t0) / 1000,
  };
  return { data: { examples }, report };
}
