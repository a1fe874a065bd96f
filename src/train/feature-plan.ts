/**
 * Planning the frozen-feature cache (compiler/passes/frozen.ts) for a training run, without a
 * device: whether it pays and fits, and what the step reads. Where the blocks of every example
 * fit (RESIDENT_MAX_BYTES, and each table one buffer: a table over the binding limit is bound in
 * ranges, passes/split-bindings.ts) they become tables uploaded to the device once,
 * each step sending only its examples' row ids (residentStep); otherwise they live in host memory
 * and stream with each batch. `train` and `explain` both plan with this.
 */
import type { Graph } from '../compiler/ir/graph.ts';
import { residentStep, splitFrozen, type FrozenSplit } from '../compiler/passes/frozen.ts';
import type { Dataset } from '../runtime/batches.ts';

/** Host memory the cache may take before the trainer recomputes instead (the whole training set). */
export const CACHE_MAX_BYTES = 4 * 2 ** 30;
/** Device memory the tables of a resident cache may take; beyond it the blocks stream each step. */
export const RESIDENT_MAX_BYTES = 2 ** 30;

const size = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);

export interface FeaturePlan {
  /** The split to train with, or null: nothing worth caching, or over the memory budget (then `why` says so). */
  split: FrozenSplit | null;
  why?: string;
  /** The cache fits on the device: the step reads resident tables (residentStep). */
  resident: boolean;
  /** The forward graph the training step is compiled from. */
  step: Graph;
}

/**
 * What `train` steps with, for `examples` training examples: the forward graph, or its frozen
 * split with the cached tensors streamed or resident. `explain` asks the same (its counts do not
 * depend on the number of examples, only the tables' sizes do).
 */
export function planFeatureCache(
  forward: Graph,
  batch: number,
  examples: number,
  o: { maxBytes?: number; residentBytes?: number; maxBuffer?: number } = {},
): FeaturePlan {
  const split = splitFrozen(forward, batch);
  if (!split) return { split: null, resident: false, step: forward };
  const maxBytes = o.maxBytes ?? CACHE_MAX_BYTES;
  const bytes = split.tensors.reduce((s, t) => s + t.perExample * 4, 0) * examples;
  if (bytes > maxBytes)
    return {
      split: null,
      resident: false,
      step: forward,
      why: `the cache would take ${size(bytes)} of host memory (budget ${size(maxBytes)}); the frozen part runs every step`,
    };
  const resident =
    bytes <= (o.residentBytes ?? RESIDENT_MAX_BYTES) &&
    split.tensors.every((t) => t.perExample * 4 * examples <= (o.maxBuffer ?? Number.POSITIVE_INFINITY));
  return { split, resident, step: resident ? residentStep(split, batch, examples) : split.step };
}

/**
 * The device tables of a resident cache (`table:<tensor>`, every example's block in dataset
 * order) and the dataset the step then reads: the raw inputs it still needs and each example's
 * row ids (`frozen:rows:<m>`), instead of its blocks.
 */
export function residentTables(
  split: FrozenSplit,
  ds: Dataset,
  batch: number,
): { tables: Record<string, Float32Array | Int32Array>; data: Dataset } {
  const tables: Record<string, Float32Array | Int32Array> = {};
  for (const t of split.tensors) {
    const table =
      t.dtype === 'i32'
        ? new Int32Array(ds.examples.length * t.perExample)
        : new Float32Array(ds.examples.length * t.perExample);
    ds.examples.forEach((e, i) => table.set(e[t.name] as ArrayLike<number>, i * t.perExample));
    tables[`table:${t.name}`] = table;
  }
  const rows = [...new Set(split.tensors.map((t) => t.shape[0] / batch))];
  const cached = new Set(split.tensors.map((t) => t.name));
  const examples = ds.examples.map((e, i) => ({
    ...Object.fromEntries(Object.entries(e).filter(([k]) => !cached.has(k))),
    ...Object.fromEntries(rows.map((m) => [`frozen:rows:${m}`, Int32Array.from({ length: m }, (_, r) => i * m + r)])),
  }));
  return { tables, data: { examples } };
}
