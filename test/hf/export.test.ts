/**
 * HF-layout export, the importer read backwards: every fixture family imported, exported and
 * imported again gives the same architecture and bit-identical weights; the exported keys are
 * the HF key lists; towers HF cannot express are refused naming the option.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { vl } from '../../src/dsl/index.ts';
import { hf } from '../../src/hf/towers.ts';
import { parseSpec } from '../../src/dsl/spec.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { exportTower } from '../../src/hf/export.ts';
import { pretrainedWeights } from '../../src/hf/import.ts';
import { SafetensorsFile } from '../../src/runtime/safetensors.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { FAMILIES, fixtureSpec, readKeys } from '../helpers/hf-fixture.ts';

const strip = <T extends object>(t: T) => ({ ...t, pretrained: undefined });

describe('export to HF layout', () => {
  for (const name of FAMILIES) {
    it(`${name}: import -> export -> import gives the same tower and the same weights`, () => {
      const spec = fixtureSpec(name);
      const tower = spec.vision ? 'vision' : 'text';
      const graph = lowerModel(spec, { batch: 2, mode: 'infer' }).graph;
      const { weights } = pretrainedWeights(spec, graph);
      const dir = mkdtempSync(join(tmpdir(), `export-${name}-`));
      exportTower(spec, tower, weights, graph.params(), dir);
      const t = spec[tower]!;
      const again =
        t.kind === 'vit'
          ? hf.vision(dir)
          : hf.text(dir, { maxLen: t.maxLen, targetLen: t.kind === 'encdec' ? t.targetLen : undefined });
      expect(strip(again)).toEqual(strip(t));
      const spec2 = parseSpec({ ...spec, [tower]: again });
      const back = pretrainedWeights(spec2, lowerModel(spec2, { batch: 2, mode: 'infer' }).graph);
      expect(back.plans[0].missing).toEqual([]);
      expect(back.plans[0].unexpected).toEqual([]);
      for (const [k, v] of Object.entries(weights)) expect(back.weights[k], k).toEqual(v);
      // The file holds exactly the HF base model's keys (an untied GPT-2: GPT2LMHeadModel's, its head beside them).
      const f = SafetensorsFile.open(join(dir, 'model.safetensors'));
      const want =
        name === 'gpt2_untied'
          ? ['lm_head.weight', ...readKeys(name).map((k) => `transformer.${k}`)].sort()
          : readKeys(name);
      expect([...f.tensors.keys()].sort()).toEqual(want);
      expect(f.metadata.format).toBe('pt');
      f.close();
    });
  }

  it('a peftgraph tower HF has no family for is refused, naming what differs', () => {
    const spec = vl.model({
      text: vl.encoder({ vocab: 10, maxLen: 4, width: 8, depth: 1, heads: 2 }),
      head: vl.classifier({ answers: 2 }),
    }).spec;
    const graph = lowerModel(spec, { batch: 1, mode: 'infer' }).graph;
    expect(() =>
      exportTower(spec, 'text', initialWeights(graph, 1), graph.params(), mkdtempSync(join(tmpdir(), 'x-'))),
    ).toThrow(/a BERT\/RoBERTa export needs norm 'post', embedNorm and pool 'cls' \(this one has norm 'pre'/);
    const gelu = vl.model({
      vision: vl.vit({ image: [8, 8], patch: 4, width: 8, depth: 1, heads: 2, act: 'gelu', eps: 1e-12, channels: 3 }),
      head: vl.features(),
    }).spec;
    const g2 = lowerModel(gelu, { batch: 1, mode: 'infer' }).graph;
    expect(
      exportTower(gelu, 'vision', initialWeights(g2, 1), g2.params(), mkdtempSync(join(tmpdir(), 'x-'))),
    ).toBeGreaterThan(0);
    const odd = parseSpec({ ...gelu, vision: { ...gelu.vision!, patchBias: false } });
    const g3 = lowerModel(odd, { batch: 1, mode: 'infer' }).graph;
    expect(() =>
      exportTower(odd, 'vision', initialWeights(g3, 1), g3.params(), mkdtempSync(join(tmpdir(), 'x-'))),
    ).toThrow(/not expressible as vit \(patchBias: false here, true in HF\)/);
    const mean = parseSpec({ ...gelu, vision: { ...gelu.vision!, pool: 'mean' } });
    const g4 = lowerModel(mean, { batch: 1, mode: 'infer' }).graph;
    expect(() =>
      exportTower(mean, 'vision', initialWeights(g4, 1), g4.params(), mkdtempSync(join(tmpdir(), 'x-'))),
    ).toThrow(/pool 'mean' has no HF layout .*export it with pool 'tanh'/);
  });
});
