/**
 * `peftgraph predict` for a decoder-only LM with a visual prefix (ViT + GPT-2 captioning): one
 * image's caption with a trained checkpoint, by beam search over the KV cache (width 3 by
 * default; 1 is greedy: runtime/caption.ts).
 */
import type { FrozenWeights } from '../compiler/plan.ts';
import { processorFor, tokenizerFor } from '../data/encoders.ts';
import { DataError } from '../data/errors.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import { captionImage, type Caption } from '../runtime/caption.ts';
import { acquireDevice } from '../runtime/device.ts';
import { inputsIdentity, weightsWithCheckpoint } from '../train/identity.ts';
import { KvDecoder } from '../train/kv-generate.ts';

export type { Caption };

export interface CaptionOptions {
  checkpoint: string;
  image: string;
  /** Text the caption continues (default: none, the caption starts right after the image). */
  prompt?: string;
  /** Beam width (default 3; 1 is greedy decoding). */
  beam?: number;
  /** Beam search's length penalty: a hypothesis scores sum(log p) / tokens^penalty (default 1). */
  lengthPenalty?: number;
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
  const dec = await KvDecoder.create(gpu, spec, o.beam ?? 3, { plan: { frozenWeights: o.frozenWeights } });
  try {
    dec.setWeights(weights);
    return await captionImage(
      dec,
      tok,
      { image },
      { prefixed: spec.visualPrefix !== 'none', prompt: o.prompt, lengthPenalty: o.lengthPenalty },
    );
  } finally {
    dec.destroy();
    gpu.destroy();
  }
}
