/**
 * `peftgraph predict` for an LM head: one image's caption with a trained checkpoint (ViT + GPT-2,
 * or an encoder-decoder such as VL-T5), or an encoder-decoder's generated answer to a question
 * about it, by beam search over the KV cache (width 3 by default; 1 is greedy:
 * runtime/caption.ts).
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
  /** Text a decoder LM's caption continues (default: none, the caption starts right after the image). */
  prompt?: string;
  /** An encoder-decoder's encoder text: the question it answers (default: none, it captions the image). */
  question?: string;
  /** Beam width (default 3; 1 is greedy decoding). */
  beam?: number;
  /** Beam search's length penalty: a hypothesis scores sum(log p) / tokens^penalty (default 1). */
  lengthPenalty?: number;
  allowMismatch?: boolean;
  frozenWeights?: FrozenWeights;
}

export async function caption(spec: ModelSpec, o: CaptionOptions): Promise<Caption> {
  const text = spec.text;
  if (spec.head.kind !== 'lm' || (text?.kind !== 'decoder' && text?.kind !== 'encdec') || !spec.vision)
    throw new DataError(
      'captioning needs a vision tower, a decoder (GPT-2) or encoder-decoder (T5) text tower and an lm head (vl.lm())',
    );
  if (text.kind === 'decoder' && o.question !== undefined)
    throw new DataError(
      'a decoder LM captions the image: a question goes to an encoder-decoder (--prompt starts the caption)',
    );
  const tok = tokenizerFor(spec);
  const graph = lowerModel(spec, { batch: 1, mode: 'train' }).graph;
  const processor = processorFor(spec);
  const { weights } = weightsWithCheckpoint(spec, graph, o.checkpoint, {
    allowMismatch: o.allowMismatch,
    keep16: (o.frozenWeights ?? 'f32') !== 'f32',
    inputs: inputsIdentity({ tokenizer: tok, processor }),
  });
  const image = await processor.load(o.image);
  // An encoder-decoder's encoder reads the image and the question (none for a caption: its template alone).
  const encoder = text.kind === 'encdec' ? tok.encode(o.question ?? '', text.maxLen) : undefined;
  const gpu = await acquireDevice();
  const dec = await KvDecoder.create(gpu, spec, o.beam ?? 3, { plan: { frozenWeights: o.frozenWeights } });
  try {
    dec.setWeights(weights);
    return await captionImage(dec, tok, encoder ? { image, tokens: encoder.ids, mask: encoder.mask } : { image }, {
      prefixed: spec.visualPrefix !== 'none',
      prompt: o.prompt,
      lengthPenalty: o.lengthPenalty,
    });
  } finally {
    dec.destroy();
    gpu.destroy();
  }
}
