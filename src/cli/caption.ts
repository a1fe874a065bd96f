/**
 * `peftgraph predict` for a decoder-only LM with a visual prefix (ViT + GPT-2 captioning): the
 * greedy caption of one image (runtime/greedy-caption.ts) with a trained checkpoint.
 */
import { lowerModel } from '../compiler/lower/index.ts';
import type { FrozenWeights } from '../compiler/plan.ts';
import { processorFor, tokenizerFor } from '../data/encoders.ts';
import { DataError } from '../data/errors.ts';
import { acquireDevice } from '../runtime/device.ts';
import { inputsIdentity, weightsWithCheckpoint } from '../train/identity.ts';
import { Evaluator } from '../train/trainer.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { greedyCaption, type Caption } from '../runtime/greedy-caption.ts';

export type { Caption };

export interface CaptionOptions {
  checkpoint: string;
  image: string;
  /** Text the caption continues (default: none, the caption starts right after the image). */
  prompt?: string;
  allowMismatch?: boolean;
  frozenWeights?: FrozenWeights;
}

export async function caption(spec: ModelSpec, o: CaptionOptions): Promise<Caption> {
  const text = spec.text;
  if (spec.head.kind !== 'lm' || text?.kind !== 'decoder' || !spec.vision)
    throw new DataError('captioning needs a vision tower, a decoder text tower (GPT-2) and an lm head (vl.lm())');
  const tok = tokenizerFor(spec);
  const graph = lowerModel(spec, { batch: 1, mode: 'train' }).graph;
  const processor = processorFor(spec);
  const { weights } = weightsWithCheckpoint(spec, graph, o.checkpoint, {
    allowMismatch: o.allowMismatch,
    keep16: (o.frozenWeights ?? 'f32') !== 'f32',
    inputs: inputsIdentity({ tokenizer: tok, processor }),
  });
  const image = await processor.load(o.image);
  const gpu = await acquireDevice();
  const ev = await Evaluator.create(gpu, spec, 1, { frozenWeights: o.frozenWeights }, false);
  try {
    ev.setWeights(weights);
    const settings = {
      maxLen: text.maxLen,
      vocab: text.vocab,
      prefixed: spec.visualPrefix !== 'none',
      prompt: o.prompt,
    };
    return await greedyCaption(tok, settings, async (tokens, mask) => {
      const feed = { image, tokens, mask };
      return (
        await ev.ex.run(Object.fromEntries(Object.entries(feed).filter(([k]) => ev.ex.plan.inputs[k])), ['logits'])
      ).logits;
    });
  } finally {
    ev.destroy();
    gpu.destroy();
  }
}
