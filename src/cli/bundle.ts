/**
 * What `compile --adapter` bundles into an inference artifact: the trained weights on their
 * base (merged when the artifact is), the answer classes, and the directories the tokenizer and
 * image processor read, all checked against the adapter's record (identity.ts) before anything
 * is written.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lowerModel } from '../compiler/lower/index.ts';
import { processorFor, tokenizerFor } from '../data/encoders.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { valuesOf } from '../runtime/half.ts';
import { mergedModel } from '../train/export.ts';
import { inputsIdentity, weightsWithCheckpoint } from '../train/identity.ts';
import type { ArtifactBundle } from './artifact.ts';
import { readAnswers } from './vqa-data.ts';

export function bundleFor(
  spec: ModelSpec,
  o: { checkpoint?: string; answers?: string; merged: boolean; allowMismatch: boolean },
): ArtifactBundle {
  const tokenizerDir = spec.text ? (spec.inputs.tokenizer ?? spec.text.pretrained?.dir) : undefined;
  const processorDir = spec.vision ? (spec.inputs.processor ?? spec.vision.pretrained?.dir) : undefined;
  const bundle: ArtifactBundle = {
    ...(tokenizerDir && existsSync(join(tokenizerDir, 'tokenizer.json')) ? { tokenizer: tokenizerDir } : {}),
    ...(processorDir && existsSync(join(processorDir, 'preprocessor_config.json')) ? { processor: processorDir } : {}),
  };
  if (!o.checkpoint) return bundle;
  const classifier = spec.head.kind === 'classifier';
  const answers =
    classifier && (o.answers || existsSync(join(dirname(o.checkpoint), 'answers.json')))
      ? readAnswers(spec, o.checkpoint, o.answers)
      : undefined;
  // The adapter must have been trained with these answers, tokenizer and processor.
  const inputs = inputsIdentity({
    answers,
    tokenizer: bundle.tokenizer ? tokenizerFor(spec) : undefined,
    processor: bundle.processor ? processorFor(spec) : undefined,
  });
  const graph = lowerModel(spec, { batch: 1, mode: 'train' }).graph;
  const { weights } = weightsWithCheckpoint(spec, graph, o.checkpoint, { allowMismatch: o.allowMismatch, inputs });
  const values = o.merged ? mergedModel(spec, weights, 1).values : weights;
  const f32 = Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, v instanceof Float32Array ? v : Float32Array.from(valuesOf(v))]),
  );
  return { ...bundle, weights: f32, ...(answers ? { answers } : {}) };
}
