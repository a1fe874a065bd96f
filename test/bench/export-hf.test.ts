/**
 * bench/vqa/export-hf.ts on the committed joint backbone: the exported vit/ and bert/ read back
 * through the HF importer (hf.vision / hf.text, config.json + model.safetensors) give the same
 * towers and every weight bit for bit, the tokenizer and preprocessor files are there, and the
 * params no HF tower holds (visual embedding, VQA head) are in joint.safetensors.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hf } from '../../src/hf/towers.ts';
import { parseSpec } from '../../src/dsl/spec.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { pretrainedWeights } from '../../src/hf/import.ts';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { exportTowers, specOf } from '../../bench/vqa/export-hf.ts';
import { SETTINGS } from '../../bench/vqa/methods.ts';
import { CHECKPOINTS, loadBackbone } from '../../bench/vqa/weights.ts';
import { TEXT_LEN } from '../../bench/vqa/text.ts';

describe('bench vqa: HF-layout export of the joint backbone', () => {
  it('refuses a checkpoint whose task has no HF export, naming it, instead of exporting it as the joint model', () => {
    const { meta } = loadBackbone(join(CHECKPOINTS, 'hf-near-vision2.safetensors'));
    expect(() => specOf(meta, 'hf-near-vision2.safetensors')).toThrow(
      "export-hf: hf-near-vision2.safetensors has metadata task 'vision' (exported: vlt5, vl, cells, text)",
    );
    expect(specOf(loadBackbone(join(CHECKPOINTS, 'hf-near-vl.safetensors')).meta, 'hf-near-vl').visualPrefix).toBe(
      'regions',
    );
  });

  it('re-imports to the same weights; prefix and head go to joint.safetensors', () => {
    const { weights } = loadBackbone(join(CHECKPOINTS, 'hf-joint.safetensors'));
    const spec = SETTINGS.vl.backbone().spec;
    const out = mkdtempSync(join(tmpdir(), 'export-joint-'));
    expect(exportTowers(spec, weights, out)).toEqual({ vit: 40, bert: 39, joint: 11 });
    for (const f of ['vit/config.json', 'vit/preprocessor_config.json', 'bert/config.json', 'bert/tokenizer.json'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const again = parseSpec({
      ...spec,
      vision: hf.vision(join(out, 'vit')),
      text: hf.text(join(out, 'bert'), { maxLen: TEXT_LEN }),
    });
    const back = pretrainedWeights(again, lowerModel(again, { batch: 1, mode: 'infer' }).graph);
    for (const p of back.plans) expect([p.missing, p.unexpected]).toEqual([[], []]);
    const joint = readSafetensors(join(out, 'joint.safetensors')).tensors;
    for (const [k, v] of Object.entries(weights)) {
      const got = k.startsWith('prefix.') || k.startsWith('head.') ? joint.get(k)?.data : back.weights[k];
      expect(got && [...got], k).toEqual([...v]);
    }
  });
});
