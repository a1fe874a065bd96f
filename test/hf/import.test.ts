/**
 * The importer against the HF key lists (written from the HF modeling files into each
 * fixture's keys.json by scripts/fixtures/hf_fixtures.py), and everything a user can get wrong:
 * missing and unexpected keys, shape mismatches, unsupported configs, files, dtypes.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hf } from '../../src/hf/towers.ts';
import { parseSpec } from '../../src/dsl/spec.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { formatImport, loadImport, planImport, pretrainedWeights } from '../../src/hf/import.ts';
import { relativeBucket } from '../../src/compiler/lower/t5.ts';
import { encodeSafetensors, SafetensorsFile, toFloat32, type TensorEntry } from '../../src/runtime/safetensors.ts';
import { FAMILIES, FIXTURES, fixtureDir, fixtureSpec, readKeys } from '../helpers/hf-fixture.ts';
import { isHalf, widen, type HalfWeights, type WeightMap } from '../../src/runtime/half.ts';
import { backboneIdentity } from '../../src/train/identity.ts';
import { initialWeights } from '../../src/runtime/init.ts';

const graphOf = (spec: ReturnType<typeof fixtureSpec>) => lowerModel(spec, { batch: 2, mode: 'infer' }).graph;

/** A scratch copy of a fixture directory, to break. */
function copyFixture(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `peftgraph-${name}-`));
  for (const f of readdirSync(fixtureDir(name))) copyFileSync(join(fixtureDir(name), f), join(dir, f));
  return dir;
}

/** Rewrites dir/model.safetensors through `edit` (F32 fixtures only). */
function editCheckpoint(dir: string, edit: (t: Map<string, TensorEntry>) => void): void {
  const f = SafetensorsFile.open(join(dir, 'model.safetensors'));
  const t = new Map<string, TensorEntry>();
  for (const [k, info] of f.tensors) if (info.dtype === 'F32') t.set(k, { shape: info.shape, data: f.read(k) });
  f.close();
  edit(t);
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(t, {}));
}

const EXTRAS: Record<string, { unexpected: string[]; tied: string[] }> = {
  vit: { unexpected: ['classifier.bias', 'classifier.weight'], tied: [] },
  gpt2: { unexpected: [], tied: ['lm_head.weight'] },
  t5: { unexpected: [], tied: ['decoder.embed_tokens.weight', 'encoder.embed_tokens.weight'] },
};

describe('name tables against the HF key lists', () => {
  for (const name of FAMILIES) {
    it(`${name}: consumes exactly the keys HF's model class saves, and fills every param`, () => {
      const spec = fixtureSpec(name);
      const graph = graphOf(spec);
      const [plan] = planImport(spec, graph);
      const prefix = name === 'vit' ? 'vit.' : name.startsWith('gpt2') ? 'transformer.' : '';
      const consumed = [
        ...new Set(plan.entries.map((e) => (e.stored.startsWith(prefix) ? e.stored.slice(prefix.length) : e.stored))),
      ].sort();
      // An untied GPT-2 head is GPT2LMHeadModel's own weight, beside the base model's keys.
      expect(consumed).toEqual(name === 'gpt2_untied' ? [...readKeys(name), 'lm_head.weight'].sort() : readKeys(name));
      expect(plan.missing).toEqual([]);
      expect(plan.unexpected.sort()).toEqual(EXTRAS[name]?.unexpected ?? []);
      expect(plan.tied.sort()).toEqual(EXTRAS[name]?.tied ?? []);
      expect(new Set(plan.entries.map((e) => e.ours)).size).toBe(graph.params().size);
    });
  }
});

describe('import report', () => {
  it('lists missing keys (the params keep their initialization) and unexpected ones, as from_pretrained does', () => {
    const dir = copyFixture('vit');
    editCheckpoint(dir, (t) => {
      t.delete('vit.pooler.dense.weight');
      t.set('vit.encoder.layer.7.output.dense.bias', { shape: [16], data: new Float32Array(16) }); // a layer the config does not have
    });
    const spec = parseSpec({ vision: hf.vision(dir), head: { kind: 'features' } });
    const graph = graphOf(spec);
    const { weights, plans } = pretrainedWeights(spec, graph);
    expect(plans[0].missing).toEqual([{ ours: 'vision.pooler.W', hf: ['pooler.dense.weight'] }]);
    expect(plans[0].unexpected.sort()).toEqual([
      'classifier.bias',
      'classifier.weight',
      'vit.encoder.layer.7.output.dense.bias',
    ]);
    expect(weights['vision.pooler.W']).toBeUndefined();
    const text = formatImport(plans).join('\n');
    expect(text).toMatch(/missing, initialized: vision\.pooler\.W \(pooler\.dense\.weight\)/);
    expect(text).toMatch(/unexpected, unused: .*vit\.encoder\.layer\.7\.output\.dense\.bias/);
  });

  it('tie_word_embeddings: an untied head is its own param; a tied copy must equal what it copies (regression)', () => {
    // Untied: lm_head.weight fills text.lm_head (gpt2_untied's parity test checks the logits).
    const untied = fixtureSpec('gpt2_untied');
    const [plan] = planImport(untied, graphOf(untied));
    expect(plan.entries.find((e) => e.stored === 'lm_head.weight')?.ours).toBe('text.lm_head');
    expect(plan.tied).toEqual([]);
    // The same checkpoint under a tied config: its head differs from wte, so it is no tied copy.
    const dir = copyFixture('gpt2_untied');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, tie_word_embeddings: true }));
    const tied = parseSpec({ text: hf.text(dir, { maxLen: 6 }), head: { kind: 'features' } });
    expect(() => planImport(tied, graphOf(tied))).toThrow(
      /tie_word_embeddings: true\), but 'lm_head\.weight' differs from 'transformer\.wte\.weight'; set "tie_word_embeddings": false/,
    );
    // With the head made equal to wte it is a tied copy again, and reported as one.
    editCheckpoint(dir, (t) => t.set('lm_head.weight', t.get('transformer.wte.weight')!));
    expect(planImport(tied, graphOf(tied))[0].tied).toEqual(['lm_head.weight']);
  });

  it('a position table stored transposed is a mismatch (a reshape only adds or drops axes of 1); a checkpoint where no key fits is an error', () => {
    const dir = copyFixture('vit');
    editCheckpoint(dir, (t) => {
      const p = t.get('vit.embeddings.position_embeddings')!;
      const [, n, d] = p.shape;
      const data = new Float32Array(p.data.length);
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) data[j * n + i] = p.data[i * d + j];
      t.set('vit.embeddings.position_embeddings', { shape: [1, d, n], data });
    });
    const spec = parseSpec({ vision: hf.vision(dir), head: { kind: 'features' } });
    expect(() => planImport(spec, graphOf(spec))).toThrow(
      /'vit\.embeddings\.position_embeddings' \[1,16,17\] reshaped -> 'vision\.pos' needs \[17,16\]/,
    );
    const none = copyFixture('vit');
    editCheckpoint(none, (t) => {
      for (const k of [...t.keys()]) {
        t.set(`model.${k}`, t.get(k)!);
        t.delete(k);
      }
    });
    const spec2 = parseSpec({ vision: hf.vision(none), head: { kind: 'features' } });
    expect(() => planImport(spec2, graphOf(spec2))).toThrow(
      /no tensor of model\.safetensors fills a param of the vision tower \(\d+ keys, e\.g\. model\./,
    );
  });

  it('a shape mismatch is an error naming the key, the param and both shapes', () => {
    const spec = parseSpec({
      vision: { ...hf.vision(fixtureDir('vit')), image: [32, 32] },
      head: { kind: 'features' },
    });
    expect(() => planImport(spec, graphOf(spec))).toThrow(
      /'vit\.embeddings\.position_embeddings' \[1,17,16\] reshaped -> 'vision\.pos' needs \[65,16\]/,
    );
    const wide = parseSpec({
      text: { ...hf.text(fixtureDir('bert'), { maxLen: 7 }), mlp: 48 },
      head: { kind: 'features' },
    });
    expect(() => planImport(wide, graphOf(wide))).toThrow(
      /'encoder\.layer\.0\.intermediate\.dense\.weight' \[32,16\] transposed -> 'text\.layers\.0\.ffn\.up\.W' needs \[16,48\], got \[16,32\]/,
    );
  });

  it('reads F16 and BF16 exactly (IEEE bit patterns)', () => {
    const out = new Float32Array(6);
    toFloat32('F16', new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555]).buffer), out);
    expect([...out]).toEqual([1, -2, 65504, 2 ** -24, Infinity, 0.333251953125]);
    toFloat32('BF16', new Uint8Array(new Uint16Array([0x3f80, 0xc049, 0x0000, 0xff80, 0x4049, 0x3eaa]).buffer), out);
    expect([...out]).toEqual([1, -3.140625, 0, -Infinity, 3.140625, 0.33203125]);
    // The fixtures store clip_vision as F16 and roberta as BF16 (their parity tests use them).
    const dtypes = (name: string) =>
      planImport(fixtureSpec(name as 'vit'), graphOf(fixtureSpec(name as 'vit')))[0].dtypes;
    expect(Object.keys(dtypes('clip_vision'))).toEqual(['F16']);
    expect(Object.keys(dtypes('roberta'))).toEqual(['BF16']);
  });

  it('keeps F16/BF16 tensors 16-bit when asked (laid out as the f32 import, the same values and identity)', () => {
    for (const name of ['roberta', 'clip_vision'] as const) {
      const spec = fixtureSpec(name);
      const graph = graphOf(spec);
      const plans = planImport(spec, graph);
      const wide = loadImport(plans);
      const kept = loadImport(plans, { keep16: true });
      expect(Object.keys(kept).sort()).toEqual(Object.keys(wide).sort());
      let transposed = 0;
      for (const e of plans[0].entries) {
        const k = kept[e.ours];
        expect(isHalf(k), e.ours).toBe(true);
        expect([...widen(k as HalfWeights)], e.ours).toEqual([...wide[e.ours]]);
        if (e.t === 'T') transposed++;
      }
      expect(transposed).toBeGreaterThan(0);
      const all = (w: WeightMap) => initialWeights(graph, 1, w);
      expect(backboneIdentity(graph, spec, all(kept), 1).hash).toBe(backboneIdentity(graph, spec, all(wide), 1).hash);
    }
  });

  it('reads sharded checkpoints through their index, and names a missing shard', () => {
    const spec = fixtureSpec('bert');
    expect(planImport(spec, graphOf(spec))[0].files).toEqual([
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
    const dir = copyFixture('bert');
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    index.weight_map['pooler.dense.bias'] = 'model-00003-of-00003.safetensors';
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    const broken = parseSpec({ text: hf.text(dir, { maxLen: 7 }), head: { kind: 'features' } });
    expect(() => planImport(broken, graphOf(broken))).toThrow(/shard 'model-00003-of-00003\.safetensors' is missing/);
  });

  it('refuses a directory without safetensors, saying how to convert a .bin', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftgraph-bin-'));
    copyFileSync(join(fixtureDir('bert'), 'config.json'), join(dir, 'config.json'));
    writeFileSync(join(dir, 'pytorch_model.bin'), 'not really');
    const spec = parseSpec({ text: hf.text(dir, { maxLen: 7 }), head: { kind: 'features' } });
    expect(() => planImport(spec, graphOf(spec))).toThrow(
      /no model\.safetensors .*found: config\.json, pytorch_model\.bin.*safe_serialization=True/s,
    );
  });

  it('a truncated file is an error naming it', () => {
    const dir = copyFixture('gpt2');
    const bytes = readFileSync(join(dir, 'model.safetensors'));
    writeFileSync(join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    const spec = parseSpec({ text: hf.text(dir, { maxLen: 6 }), head: { kind: 'features' } });
    expect(() => planImport(spec, graphOf(spec))).toThrow(
      /model\.safetensors: tensor '.*' .*outside the \d+ data bytes/,
    );
  });
});

describe('config.json', () => {
  function withConfig(patch: Record<string, unknown>, base = 'bert'): string {
    const dir = mkdtempSync(join(tmpdir(), 'peftgraph-cfg-'));
    const cfg = { ...JSON.parse(readFileSync(join(fixtureDir(base), 'config.json'), 'utf8')), ...patch };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    return dir;
  }

  it('an unsupported model_type is an error listing the supported ones', () => {
    expect(() => hf.text(withConfig({ model_type: 'llama' }))).toThrow(
      /model_type 'llama' is not a supported text tower \(supported: bert, roberta, gpt2, t5\)/,
    );
    expect(() => hf.vision(withConfig({}))).toThrow(
      /model_type 'bert' is not a supported vision tower \(supported: vit, clip_vision_model, clip\) \('bert' is a text tower: use hf\.text\(\)\)/,
    );
  });

  it("hf.text's and hf.vision's own options: an unknown one is refused by name", () => {
    expect(() => hf.text(fixtureDir('bert'), { maxlen: 4 } as never)).toThrow(
      /hf\.text: unknown option 'maxlen' \(did you mean 'maxLen'\?\); valid: maxLen, targetLen/,
    );
    expect(() => (hf.vision as (d: string, o: unknown) => unknown)(fixtureDir('vit'), { image: 3 })).toThrow(
      /takes only the directory/,
    );
  });

  it('options peftgraph does not implement are errors naming the field, never ignored', () => {
    expect(() => hf.text(withConfig({ position_embedding_type: 'relative_key' }))).toThrow(
      /position_embedding_type = "relative_key" is not supported \(peftgraph implements "absolute"\)/,
    );
    expect(() => hf.text(withConfig({ hidden_act: 'swish' }))).toThrow(
      /hidden_act 'swish' is not supported \(valid: gelu, gelu_new, gelu_pytorch_tanh, quick_gelu, relu\)/,
    );
    expect(() => hf.text(withConfig({ scale_attn_by_inverse_layer_idx: true }, 'gpt2'))).toThrow(
      /scale_attn_by_inverse_layer_idx = true is not supported/,
    );
    expect(() => hf.text(withConfig({}), { maxLen: 11 })).toThrow(
      /maxLen 11 exceeds the 10 positions this checkpoint has/,
    );
    expect(() => hf.text(withConfig({ hidden_size: -3 }))).toThrow(/config\.json: hidden_size: /);
    expect(() => hf.text(join(FIXTURES, 'nowhere'))).toThrow(/config\.json: cannot read/);
  });

  it('maps each family to its architecture options', () => {
    const vit = hf.vision(fixtureDir('vit'));
    expect(vit).toMatchObject({
      act: 'gelu',
      eps: 1e-6,
      pool: 'tanh',
      patchBias: true,
      embedNorm: false,
      image: [16, 16],
      channels: 3,
      patch: 4,
      mlp: 32,
    });
    expect(hf.vision(fixtureDir('clip_vision'))).toMatchObject({
      act: 'quick_gelu',
      pool: 'ln',
      patchBias: false,
      embedNorm: true,
    });
    expect(hf.text(fixtureDir('roberta'), { maxLen: 7 })).toMatchObject({
      kind: 'encoder',
      norm: 'post',
      embedNorm: true,
      positionIds: 'roberta',
      padId: 1,
      typeVocab: 1,
      pool: 'cls',
      positions: 12,
    });
    expect(hf.text(fixtureDir('gpt2'))).toMatchObject({ kind: 'decoder', act: 'gelu_tanh', maxLen: 12 });
    expect(hf.text(fixtureDir('t5_v1_1'))).toMatchObject({
      kind: 'encdec',
      gated: true,
      act: 'gelu_tanh',
      tied: false,
      headDim: 6,
      buckets: 8,
      maxDistance: 20,
    });
    expect(hf.text(fixtureDir('t5'))).toMatchObject({ gated: false, act: 'relu', tied: true });
  });
});

describe("T5's relative position buckets", () => {
  it("equal torch's for every relative position in [-599, 599], both directions", () => {
    const want = JSON.parse(readFileSync(join(FIXTURES, 't5_buckets.json'), 'utf8'));
    for (const [buckets, dist] of [
      [32, 128],
      [8, 20],
    ]) {
      for (const bi of [true, false]) {
        const got = (want.relative_position as number[]).map((r) => relativeBucket(r, bi, buckets, dist));
        expect(got).toEqual(want[`${buckets}_${dist}_${bi ? 'bidirectional' : 'causal'}`]);
      }
    }
  });
});

describe('loading', () => {
  it('returns f32 arrays in the model layout, transposed from nn.Linear', () => {
    const spec = fixtureSpec('vit');
    const w = loadImport(planImport(spec, graphOf(spec)));
    const f = SafetensorsFile.open(join(fixtureDir('vit'), 'model.safetensors'));
    const q = f.read('vit.encoder.layer.1.attention.attention.query.weight'); // [out 16, in 16]
    f.close();
    expect(w['vision.layers.1.attn.q.W'][3 * 16 + 5]).toBe(q[5 * 16 + 3]);
  });
});

describe('peftgraph explain on a VL spec from two checkpoint directories', () => {
  it('prints the import report of both towers and the parameter report by group', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(import.meta.dirname, '..', '..', 'bin', 'peftgraph.mjs'),
        'explain',
        'examples/pretrained-vl.spec.ts',
        '--batch',
        '2',
      ],
      {
        cwd: join(import.meta.dirname, '..', '..'),
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /import {7}vision: vit from .*fixtures\/hf\/vit \(model\.safetensors\): 40 tensors loaded, 5,824 values \(F32 5,824 values\)\n +missing: none\n +unexpected, unused: classifier\.bias, classifier\.weight/,
    );
    expect(r.stdout).toMatch(/text: bert from .*fixtures\/hf\/bert \(2 shards\): 39 tensors loaded/);
    expect(r.stdout).toMatch(/backbone +11,408 +trainable 0\n +head +938 +trainable 938\n +lora +512 +trainable 512/);
  });
});
