/**
 * Adapters on their own: saved with the identity of their base, refused by another base (and
 * loaded anyway when asked), switched on one compiled base with the same scores as a model built
 * for each, and never resumed from.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { peft } from '../../src/dsl/index.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { loadCheckpoint } from '../../src/runtime/checkpoint.ts';
import { CheckpointError } from '../../src/runtime/safetensors.ts';
import {
  ADAPTER_FILE,
  ANSWERS_FILE,
  AdapterHost,
  CARD_FILE,
  loadAdapter,
  saveAdapter,
} from '../../src/train/adapter.ts';
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
const ANSWERS = ['top left', 'top right', 'bottom left', 'bottom right', 'none', 'all'];
const cfg = trainConfig({ epochs: 2, batch: 16, lr: 1e-2, seed: 7 });

describe('adapters', () => {
  const gpu = useGpu();
  const dir = mkdtempSync(join(tmpdir(), 'pg-adapter-'));
  const trained: Record<'a' | 'b', TrainResult> = {} as never;

  beforeAll(async () => {
    // Two adapters on one base (seed 7's frozen init), trained on different data.
    trained.a = await train(gpu(), spec(), { train: quadrants(64, 1) }, cfg);
    trained.b = await train(gpu(), spec(), { train: quadrants(64, 5) }, cfg);
    for (const k of ['a', 'b'] as const)
      saveAdapter(join(dir, k), trained[k], { answers: ANSWERS, data: `quadrants, draw ${k}` });
  });

  it('holds the trainable weights, the spec and the base identity, and no optimizer state', () => {
    const a = loadCheckpoint(join(dir, 'a', ADAPTER_FILE), lowerModel(spec(), { batch: 1, mode: 'train' }).graph);
    expect(a.kind).toBe('adapter');
    expect(Object.keys(a.params).sort()).toEqual(Object.keys(trained.a.bestWeights).sort());
    expect(Object.keys(a.params).every((k) => k.includes('lora') || k.startsWith('head.'))).toBe(true);
    expect(a.state).toEqual({});
    expect(a.meta.backbone).toEqual(trained.a.identity);
  });

  it('is a directory like save_pretrained: loadAdapter(dir) gives back the spec, the weights on their base and the answers', async () => {
    expect(readdirSync(join(dir, 'a')).sort()).toEqual([ANSWERS_FILE, CARD_FILE, ADAPTER_FILE].sort());
    const a = loadAdapter(join(dir, 'a'));
    expect(a.spec).toEqual(spec());
    expect(a.seed).toBe(7);
    expect(a.answers).toEqual(ANSWERS);
    expect(a.adapter).toEqual(trained.a.bestWeights);
    const base = baseWeights(spec(), lowerModel(spec(), { batch: 16, mode: 'infer' }).graph, 7);
    expect(a.weights).toEqual({ ...base, ...trained.a.bestWeights });
    // The card: method and points, sizes that add up to the file's values, the base, the data, the dev score.
    const card = readFileSync(join(dir, 'a', CARD_FILE), 'utf8');
    const values = Object.values(trained.a.bestWeights).reduce((n, v) => n + v.length, 0);
    expect(card).toMatch(/^---\nlibrary_name: peftgraph\ntags: \["peftgraph","lora","vqa"\]\n---/);
    expect(card).toContain(
      '- vision: vit, randomly initialized\n- text: encoder, randomly initialized\n- init seed of the weights no directory supplies: 7',
    );
    expect(card).toContain('| lora | `text.layers.*.attn.{q,v}` | rank 2,');
    expect(card).toContain(`${values.toLocaleString('en-US')} trainable values`);
    expect(card).toContain(`frozen weights sha256: \`${trained.a.identity.hash}\``);
    expect(card).toContain('quadrants, draw a.');
    expect(card).toMatch(/- answers sha256: `[0-9a-f]{64}`/);
    expect(card).toContain('64 training examples, no dev set; 2 epochs.');
    // Scored on the GPU as loaded, the same as the weights train returned.
    const ev = await Evaluator.create(gpu(), spec(), 16);
    try {
      ev.setWeights(a.weights);
      const got = await ev.evaluate(dev);
      ev.setWeights({ ...base, ...trained.a.bestWeights });
      expect(got).toEqual(await ev.evaluate(dev));
    } finally {
      ev.destroy();
    }
  });

  it('loadAdapter refuses a base that is not its own, a base missing weights, and answers that were not its', () => {
    const other = baseWeights(spec(), lowerModel(spec(), { batch: 1, mode: 'infer' }).graph, 8);
    expect(() => loadAdapter(join(dir, 'a'), { base: other })).toThrow(
      /frozen weights differ: trained on randomly initialized towers with seed 7 .*Pass allowMismatch: true/,
    );
    expect(loadAdapter(join(dir, 'a'), { base: other, allowMismatch: true }).weights[Object.keys(other)[0]]).toBe(
      other[Object.keys(other)[0]],
    );
    const { [Object.keys(other)[0]]: _, ...partial } = other;
    expect(() => loadAdapter(join(dir, 'a'), { base: partial })).toThrow(
      new RegExp(`the base given has no ${Object.keys(other)[0].replaceAll('.', '\\.')}`),
    );
    const moved = mkdtempSync(join(tmpdir(), 'pg-adapter-moved-'));
    for (const f of [ADAPTER_FILE, CARD_FILE]) copyFileSync(join(dir, 'a', f), join(moved, f));
    writeFileSync(join(moved, ANSWERS_FILE), JSON.stringify([...ANSWERS].reverse()));
    expect(() => loadAdapter(moved)).toThrow(
      /its answer classes \(answers\.json\) differ from those it was trained with/,
    );
    expect(() => saveAdapter(moved, trained.a, { answers: ['x'] })).toThrow(/answers: 1 given for a head of 6/);
    expect(() => loadAdapter(join(moved, 'nothing'))).toThrow(/nothing: does not exist/);
  });

  it('switches adapters on one compiled base with the scores of a model built for each', async () => {
    const host = await AdapterHost.create(gpu(), spec(), { batch: 16, seed: 7 });
    const ev = await Evaluator.create(gpu(), spec(), 16);
    try {
      host.load('a', join(dir, 'a'));
      host.load('b', join(dir, 'b'));
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
      expect(() => other.load('a', join(dir, 'a'))).toThrow(
        /frozen weights differ: trained on randomly initialized towers with seed 7 .* pass seed 7 \(--seed 7\)/,
      );
      other.load('a', join(dir, 'a'), { allowMismatch: true });
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
      expect(() => host.load('a', join(dir, 'a'))).toThrow(
        /does not match the model:[\s\S]*has shape \[8,2\], the model's is \[8,4\]/,
      );
    } finally {
      host.destroy();
    }
  });

  it('is no resume point', async () => {
    await expect(
      train(gpu(), spec(), { train: quadrants(64, 1) }, { ...cfg, epochs: 3, resume: join(dir, 'a', ADAPTER_FILE) }),
    ).rejects.toThrow(CheckpointError);
    await expect(
      train(gpu(), spec(), { train: quadrants(64, 1) }, { ...cfg, epochs: 3, resume: join(dir, 'a', ADAPTER_FILE) }),
    ).rejects.toThrow(/is an adapter file: .* resume from last\.safetensors/);
  });
});
