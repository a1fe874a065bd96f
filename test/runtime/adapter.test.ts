/**
 * Adapters on their own: saved with the identity of their base, refused by another base (and
 * loaded anyway when asked), switched on one compiled base with the same scores as a model built
 * for each, and never resumed from.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { peft } from '../../src/dsl/index.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { loadCheckpoint } from '../../src/runtime/checkpoint.ts';
import { CheckpointError } from '../../src/runtime/safetensors.ts';
import { AdapterHost, saveAdapter } from '../../src/train/adapter.ts';
import { baseWeights } from '../../src/train/identity.ts';
import { Evaluator, train, trainConfig, type TrainResult } from '../../src/train/trainer.ts';
import { quadrants } from '../../examples/quadrants.ts';
import { useGpu } from '../helpers/gpu.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

const spec = () =>
  tinyVl()
    .freeze('**')
    .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2 })).spec;
const dev = quadrants(32, 2);
const cfg = trainConfig({ epochs: 2, batch: 16, lr: 1e-2, seed: 7 });

describe('adapters', () => {
  const gpu = useGpu();
  const dir = mkdtempSync(join(tmpdir(), 'pg-adapter-'));
  const trained: Record<'a' | 'b', TrainResult> = {} as never;

  beforeAll(async () => {
    // Two adapters on one base (seed 7's frozen init), trained on different data.
    trained.a = await train(gpu(), spec(), { train: quadrants(64, 1) }, cfg);
    trained.b = await train(gpu(), spec(), { train: quadrants(64, 5) }, cfg);
    const graph = lowerModel(spec(), { batch: 16, mode: 'train' }).graph;
    for (const k of ['a', 'b'] as const) saveAdapter(join(dir, `${k}.safetensors`), graph, spec(), trained[k].bestWeights, trained[k].identity, {}, { config: { seed: 7 } });
  });

  it('holds the trainable weights, the spec and the base identity, and no optimizer state', () => {
    const a = loadCheckpoint(join(dir, 'a.safetensors'), lowerModel(spec(), { batch: 1, mode: 'train' }).graph);
    expect(a.kind).toBe('adapter');
    expect(Object.keys(a.params).sort()).toEqual(Object.keys(trained.a.bestWeights).sort());
    expect(Object.keys(a.params).every((k) => k.includes('lora') || k.startsWith('head.'))).toBe(true);
    expect(a.state).toEqual({});
    expect(a.meta.backbone).toEqual(trained.a.identity);
  });

  it('switches adapters on one compiled base with the scores of a model built for each', async () => {
    const host = await AdapterHost.create(gpu(), spec(), { batch: 16, seed: 7 });
    const ev = await Evaluator.create(gpu(), spec(), 16);
    try {
      host.load('a', join(dir, 'a.safetensors'));
      host.load('b', join(dir, 'b.safetensors'));
      const base = baseWeights(spec(), lowerModel(spec(), { batch: 16, mode: 'infer' }).graph, 7);
      const want: Record<string, Awaited<ReturnType<Evaluator['evaluate']>>> = {};
      for (const k of ['a', 'b'] as const) {
        ev.setWeights({ ...base, ...trained[k].bestWeights });
        want[k] = await ev.evaluate(dev);
      }
      expect(want.a.loss).not.toBe(want.b.loss);
      for (const k of ['a', 'b', 'a'] as const) {
        host.use(k);
        expect(await host.evaluate(dev)).toEqual(want[k]);
      }
      expect(() => host.use('c')).toThrow(/no such adapter loaded \(loaded: a, b\)/);
    } finally {
      host.destroy();
      ev.destroy();
    }
  });

  it('refuses another base, saying how it differs; loads onto it when asked', async () => {
    const other = await AdapterHost.create(gpu(), spec(), { batch: 16, seed: 8 });
    try {
      expect(() => other.load('a', join(dir, 'a.safetensors'))).toThrow(/frozen weights differ: trained on randomly initialized towers with seed 7 .* pass --seed 7/);
      other.load('a', join(dir, 'a.safetensors'), { allowMismatch: true });
      expect(other.names).toEqual(['a']);
    } finally {
      other.destroy();
    }
    // Another spec (a larger LoRA rank) is another model: the tensors do not fit it.
    const wider = tinyVl()
      .freeze('**')
      .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 4 })).spec;
    const host = await AdapterHost.create(gpu(), wider, { batch: 16, seed: 7 });
    try {
      expect(() => host.load('a', join(dir, 'a.safetensors'))).toThrow(/does not match the model:[\s\S]*has shape \[8,2\], the model's is \[8,4\]/);
    } finally {
      host.destroy();
    }
  });

  it('is no resume point', async () => {
    await expect(train(gpu(), spec(), { train: quadrants(64, 1) }, { ...cfg, epochs: 3, resume: join(dir, 'a.safetensors') })).rejects.toThrow(CheckpointError);
    await expect(train(gpu(), spec(), { train: quadrants(64, 1) }, { ...cfg, epochs: 3, resume: join(dir, 'a.safetensors') })).rejects.toThrow(/is an adapter file: .* resume from last\.safetensors/);
  });
});
