/**
 * Exports a benchmark checkpoint's towers in HF layout, as a user would download them:
 *   vit/   config.json, model.safetensors, preprocessor_config.json (8-bit gray scenes, rescaled by 1/255)
 *   bert/  or t5/: config.json, model.safetensors, tokenizer.json, tokenizer_config.json
 *   joint.safetensors  what no HF tower holds (the visual embedding prefix.*, the VQA head head.*), if any
 *
 *   npx tsx bench/vqa/export-hf.ts bench/vqa/checkpoints/hf-joint.safetensors out/hf-joint
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { exportTower } from '../../src/hf/export.ts';
import { encodeSafetensors, writeAtomic, type TensorEntry } from '../../src/runtime/safetensors.ts';
import type { ModelSpec } from '../../src/dsl/spec.ts';
import { CANVAS } from './mnist-vqa.ts';
import { backbone, flavorOf, jointOf, textPretrainModel, visionCellsModel, vlT5 } from './model.ts';
import { writeTokenizer } from './text.ts';
import { writeT5Tokenizer } from './t5.ts';
import { loadBackbone } from './weights.ts';

/** preprocessor_config.json for the scenes as stored (8-bit gray PNGs): rescaling by 1/255 gives the pretraining inputs. */
export function writePreprocessor(dir: string): void {
  const cfg = {
    image_processor_type: 'ViTImageProcessor',
    do_resize: true,
    size: { height: CANVAS, width: CANVAS },
    resample: 2,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: false,
    image_mean: [0],
    image_std: [1],
  };
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(cfg, null, 1));
}

/** Writes the towers of `spec` that `weights` holds; returns tensor counts per directory. */
export function exportTowers(
  spec: ModelSpec,
  weights: Record<string, Float32Array>,
  out: string,
): Record<string, number> {
  const params = lowerModel(spec, { batch: 1, mode: 'infer' }).graph.params();
  const counts: Record<string, number> = {};
  if (spec.vision && Object.keys(weights).some((k) => k.startsWith('vision.'))) {
    counts.vit = exportTower(spec, 'vision', weights, params, join(out, 'vit'));
    writePreprocessor(join(out, 'vit'));
  }
  if (spec.text) {
    const dir = join(out, spec.text.kind === 'encdec' ? 't5' : 'bert');
    counts[spec.text.kind === 'encdec' ? 't5' : 'bert'] = exportTower(spec, 'text', weights, params, dir);
    (spec.text.kind === 'encdec' ? writeT5Tokenizer : writeTokenizer)(dir);
  }
  const rest = new Map<string, TensorEntry>();
  for (const [name, node] of params)
    if (/^(prefix|head)\./.test(name) && weights[name]) rest.set(name, { shape: [...node.shape], data: weights[name] });
  if (rest.size) {
    writeAtomic(
      join(out, 'joint.safetensors'),
      encodeSafetensors(rest, {
        format: 'peftgraph-mnist-vqa-joint-1',
        about: 'params outside the HF towers: prefix.* (visual embedding), head.* (VQA classifier)',
      }),
    );
    counts.joint = rest.size;
  }
  return counts;
}

/** The spec a checkpoint was trained as, from its metadata (pretrain.ts writes task and flavor). */
export function specOf(meta: Record<string, string>, path: string): ModelSpec {
  const flavor = flavorOf(meta, path);
  if (flavor !== 'hf' && flavor !== 't5')
    throw new Error(
      `export-hf: this checkpoint is of flavor '${flavor}'; only --flavor hf checkpoints and vlt5 have HF families`,
    );
  switch (meta.task) {
    case 'vlt5':
      return vlT5().spec;
    case 'vl':
      return backbone('hf', jointOf(meta, path)).spec;
    case 'cells':
      return visionCellsModel('hf').spec;
    case 'text':
      return textPretrainModel('hf').spec;
    default:
      // A task without an HF export here (vision, captext) is refused, not exported as the joint model.
      throw new Error(`export-hf: ${path} has metadata task '${meta.task}' (exported: vlt5, vl, cells, text)`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, out] = process.argv.slice(2);
  if (!path || !out) throw new Error('usage: npx tsx bench/vqa/export-hf.ts <checkpoint.safetensors> <out dir>');
  const { weights, meta } = loadBackbone(path);
  mkdirSync(out, { recursive: true });
  const counts = exportTowers(specOf(meta, path), weights, out);
  console.log(
    `wrote ${out}: ${Object.entries(counts)
      .map(([d, n]) => `${d} (${n} tensors)`)
      .join(', ')} from ${path} (${meta.command})`,
  );
}
