/**
 * Frozen features per example (compiler/passes/frozen.ts) on the trainer's side: the feature
 * graph runs once over the training set, each example keeps its block of every cached tensor,
 * and each step then uploads those blocks (a few KiB per example) instead of recomputing the
 * frozen part. The blocks live in host memory and stream to the device with each batch.
 */
import { compile } from '../compiler/compile.ts';
import type { Graph } from '../compiler/ir/graph.ts';
import type { PlanOptions } from '../compiler/plan.ts';
import { splitFrozen, type FrozenSplit } from '../compiler/passes/frozen.ts';
import { makeBatch, type Dataset, type Example } from '../runtime/data.ts';
import type { Gpu } from '../runtime/device.ts';
import { Executor } from '../runtime/executor.ts';
import { profileOf } from '../runtime/profile.ts';

/** Host memory the cache may take before the trainer recomputes instead (the whole training set). */
export const CACHE_MAX_BYTES = 4 * 2 ** 30;

export interface CacheReport {
  tensors: number;
  bytesPerExample: number;
  examples: number;
  /** Forward nodes that run once per example instead of every step. */
  nodesCached: number;
  forwardNodes: number;
  seconds: number;
}

const size = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);

/** The split to train with, or null: nothing worth caching, or over the memory budget (then `why` says so). */
export function planFeatureCache(forward: Graph, batch: number, examples: number, maxBytes = CACHE_MAX_BYTES): { split: FrozenSplit | null; why?: string } {
  const split = splitFrozen(forward, batch);
  if (!split) return { split: null };
  const bytes = split.tensors.reduce((s, t) => s + t.perExample * 4, 0) * examples;
  if (bytes > maxBytes) return { split: null, why: `the cache would take ${size(bytes)} of host memory (budget ${size(maxBytes)}); the frozen part runs every step` };
  return { split };
}

/**
 * The training set with each example's cached blocks added under the tensors' names, and only
 * the raw inputs the step still reads kept. `weights` must hold the frozen params.
 */
export async function cacheFeatures(
  gpu: Gpu,
  split: FrozenSplit,
  ds: Dataset,
  weights: Record<string, ArrayLike<number>>,
  batch: number,
  plan?: PlanOptions,
): Promise<{ data: Dataset; report: CacheReport }> {
  const t0 = performance.now();
  const { plan: p } = compile(split.features, { batch, mode: 'infer', profile: profileOf(gpu), plan });
  const ex = await Executor.create(gpu, p);
  const keep = new Set(split.step.inputs().keys());
  const examples: Example[] = ds.examples.map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => keep.has(k))));
  try {
    for (const name of Object.keys(p.params)) ex.setParam(name, weights[name]);
    const names = split.tensors.map((t) => t.name);
    for (let start = 0; start < ds.examples.length; start += batch) {
      const idx = [...Array(Math.min(batch, ds.examples.length - start)).keys()].map((k) => start + k);
      const { inputs, valid } = makeBatch(ds, idx, batch);
      const out = await ex.run(Object.fromEntries(Object.entries(inputs).filter(([k]) => p.inputs[k])), names);
      for (const t of split.tensors) for (let b = 0; b < valid; b++) examples[idx[b]][t.name] = out[t.name].slice(b * t.perExample, (b + 1) * t.perExample);
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
