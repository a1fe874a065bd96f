/**
 * Training checkpoints: trainable params, optimizer state and the run's metadata (spec,
 * config, step, epoch, history) in one safetensors file. Loading checks every tensor against
 * the model's graph, so a checkpoint of another model fails with the differences named.
 */
import type { Graph, ParamInfo } from '../compiler/ir/graph.ts';
import { encodeSafetensors, readSafetensors, writeAtomic, CheckpointError, type TensorEntry } from './safetensors.ts';

export interface CheckpointData {
  params: Record<string, Float32Array>;
  state: Record<string, Float32Array>;
  meta: Record<string, unknown>;
}

/** A training checkpoint, or an adapter file (trainable weights and metadata, no optimizer state). */
export const CHECKPOINT_FORMATS = { checkpoint: 'peftgraph-checkpoint-1', adapter: 'peftgraph-adapter-1' } as const;
export type CheckpointKind = keyof typeof CHECKPOINT_FORMATS;

const STATE_PREFIX = 'optimizer/';

export function saveCheckpoint(
  path: string,
  g: Graph,
  d: CheckpointData,
  hooks?: { beforeRename?: () => void },
  kind: CheckpointKind = 'checkpoint',
): void {
  const tensors = new Map<string, TensorEntry>();
  const shapes = g.params();
  for (const [k, v] of Object.entries(d.params)) tensors.set(k, { shape: [...shapes.get(k)!.shape], data: v });
  for (const [k, v] of Object.entries(d.state)) {
    const param = k.slice(k.indexOf(':') + 1);
    tensors.set(`${STATE_PREFIX}${k}`, { shape: [...shapes.get(param)!.shape], data: v });
  }
  const metadata = Object.fromEntries(Object.entries(d.meta).map(([k, v]) => [k, JSON.stringify(v)]));
  writeAtomic(path, encodeSafetensors(tensors, { ...metadata, format: CHECKPOINT_FORMATS[kind] }), hooks);
}

/** Loads a checkpoint and validates it against `g`'s trainable params (names, shapes, presence). */
export function loadCheckpoint(path: string, g: Graph): CheckpointData & { kind: CheckpointKind } {
  const { tensors, metadata } = readSafetensors(path);
  const kind = (Object.keys(CHECKPOINT_FORMATS) as CheckpointKind[]).find(
    (k) => CHECKPOINT_FORMATS[k] === metadata.format,
  );
  if (!kind)
    throw new CheckpointError(path, `not a peftgraph checkpoint or adapter (format: ${metadata.format ?? 'none'})`);
  const params: Record<string, Float32Array> = {};
  const state: Record<string, Float32Array> = {};
  const problems: string[] = [];
  const graphParams = g.params();
  for (const [name, t] of tensors) {
    if (name.startsWith(STATE_PREFIX)) {
      state[name.slice(STATE_PREFIX.length)] = t.data;
      continue;
    }
    const node = graphParams.get(name);
    if (!node) problems.push(`'${name}' is not a param of this model`);
    else if (node.shape.join() !== t.shape.join())
      problems.push(`'${name}' has shape [${t.shape}], the model's is [${node.shape}]`);
    else params[name] = t.data;
  }
  for (const [name, n] of graphParams)
    if ((n.attrs.info as ParamInfo).trainable && !params[name]) problems.push(`trainable '${name}' is missing`);
  if (problems.length)
    throw new CheckpointError(
      path,
      `does not match the model:\n  ${problems.slice(0, 12).join('\n  ')}${problems.length > 12 ? `\n  ... ${problems.length - 12} more` : ''}`,
    );
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (k === 'format') continue;
    try {
      meta[k] = JSON.parse(v);
    } catch {
      throw new CheckpointError(path, `metadata '${k}' is not JSON`);
    }
  }
  return { params, state, meta, kind };
}
