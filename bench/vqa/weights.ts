/**
 * Pretrained backbone weights for the benchmark: plain safetensors (every tensor a model param,
 * no optimizer state) with the run's provenance in the metadata, so a committed file says how it
 * was made.
 */
import { encodeSafetensors, readSafetensors, writeAtomic, type TensorEntry } from '../../src/runtime/safetensors.ts';
import type { Graph } from '../../src/compiler/ir/graph.ts';
import { join } from 'node:path';

export const CHECKPOINTS = join(import.meta.dirname, 'checkpoints');
export const WEIGHTS_FORMAT = 'peftgraph-mnist-vqa-backbone-1';

/** What a backbone was pretrained on (pretrain.ts's tasks): its metadata `task`, which readers branch on. */
export const BACKBONE_TASKS = ['vl', 'vlt5', 'vision', 'cells', 'text', 'captext'] as const;
export type BackboneTask = (typeof BACKBONE_TASKS)[number];

/**
 * Metadata `key` of a backbone file: one of `valid`, or `absent` where the field is missing (the
 * first checkpoints were written without it); anything else is refused, naming `source`.
 */
export function metaValue<T extends string>(
  meta: Record<string, string>,
  key: string,
  valid: readonly T[],
  source: string,
  absent?: T,
): T {
  const v = meta[key] ?? absent;
  if (v === undefined || !(valid as readonly string[]).includes(v))
    throw new Error(
      `${source}: ${v === undefined ? `no metadata ${key}` : `metadata ${key} '${v}'`} (valid: ${valid.join(', ')})`,
    );
  return v as T;
}

/** Writes the params of `g` whose names start with one of `prefixes`. */
export function saveBackbone(
  path: string,
  g: Graph,
  weights: Record<string, Float32Array>,
  prefixes: string[],
  meta: Record<string, unknown>,
): number {
  const tensors = new Map<string, TensorEntry>();
  for (const [name, node] of g.params()) {
    if (!prefixes.some((p) => name.startsWith(p))) continue;
    if (!weights[name]) throw new Error(`saveBackbone: no value for '${name}'`);
    tensors.set(name, { shape: [...node.shape], data: weights[name] });
  }
  const metadata = Object.fromEntries(
    Object.entries(meta).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
  writeAtomic(path, encodeSafetensors(tensors, { format: WEIGHTS_FORMAT, ...metadata }));
  return tensors.size;
}

export function loadBackbone(path: string): { weights: Record<string, Float32Array>; meta: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(path);
  if (metadata.format !== WEIGHTS_FORMAT)
    throw new Error(
      `${path}: not a benchmark backbone (format ${metadata.format ?? 'none'}); make it with bench/vqa/pretrain.ts`,
    );
  metaValue(metadata, 'task', BACKBONE_TASKS, path);
  return { weights: Object.fromEntries([...tensors].map(([k, t]) => [k, t.data])), meta: metadata };
}
