/**
 * `peftgraph predict` for a decoder-only LM with a visual prefix (ViT + GPT-2 captioning): the
 * greedy caption of one image, after an optional prompt, until the end-of-sequence token or the
 * tower's maxLen. Each new token is one pass of the inference plan over the whole sequence (the
 * decoder is causal, so later positions never change earlier logits); a KV cache is issue 33's.
 */
import { lowerModel } from '../compiler/lower/index.ts';
import type { FrozenWeights } from '../compiler/plan.ts';
import { processorFor, tokenizerFor } from '../data/encoders.ts';
import { DataError } from '../data/errors.ts';
import { acquireDevice } from '../runtime/device.ts';
import { inputsIdentity, weightsWithCheckpoint } from '../train/identity.ts';
import { Evaluator } from '../train/trainer.ts';
import type { ModelSpec } from '../dsl/spec.ts';

export interface CaptionOptions {
  checkpoint: string;
  image: string;
  /** Text the caption continues (default: none, the caption starts right after the image). */
  prompt?: string;
  allowMismatch?: boolean;
  frozenWeights?: FrozenWeights;
}

export interface Caption {
  text: string;
  ids: number[];
  /** Why decoding stopped. */
  stop: 'eos' | 'maxLen';
}

/** Index of the largest of `n` values of `x` from `at`. */
function argmax(x: ArrayLike<number>, at: number, n: number): number {
  let best = 0;
  for (let v = 1; v < n; v++) if (x[at + v] > x[at + best]) best = v;
  return best;
}

export async function caption(spec: ModelSpec, o: CaptionOptions): Promise<Caption> {
  const text = spec.text;
  if (spec.head.kind !== 'lm' || text?.kind !== 'decoder' || !spec.vision) throw new DataError('captioning needs a vision tower, a decoder text tower (GPT-2) and an lm head (vl.lm())');
  const tok = tokenizerFor(spec);
  if (tok.eosId === undefined) throw new DataError(`${tok.source}: no end-of-sequence token (tokenizer_config.json eos_token or config.json eos_token_id): generation could not stop`);
  const graph = lowerModel(spec, { batch: 1, mode: 'train' }).graph;
  const processor = processorFor(spec);
  const { weights } = weightsWithCheckpoint(spec, graph, o.checkpoint, {
    allowMismatch: o.allowMismatch,
    keep16: (o.frozenWeights ?? 'f32') !== 'f32',
    inputs: inputsIdentity({ tokenizer: tok, processor }),
  });
  const L = text.maxLen;
  const enc = o.prompt ? tok.encode(o.prompt, L) : null;
  const ids = enc ? Array.from(enc.ids.slice(0, Math.min(enc.length, L))) : [];
  // Without a prefix nothing predicts the first token: start from end-of-sequence, as GPT-2 does.
  if (ids.length === 0 && spec.visualPrefix === 'none') ids.push(tok.eosId);
  if (ids.length >= L) throw new DataError(`--prompt takes ${ids.length} tokens, leaving none of the tower's maxLen ${L} to generate`);
  const image = await processor.load(o.image);
  const gpu = await acquireDevice();
  const ev = await Evaluator.create(gpu, spec, 1, { frozenWeights: o.frozenWeights }, false);
  try {
    ev.setWeights(weights);
    const vocab = text.vocab;
    const start = ids.length;
    let stop: Caption['stop'] = 'maxLen';
    while (ids.length < L) {
      const tokens = new Int32Array(L).fill(tok.padId);
      tokens.set(ids);
      const mask = new Float32Array(L).fill(1, 0, ids.length);
      const feed = { image, tokens, mask };
      const out = await ev.ex.run(Object.fromEntries(Object.entries(feed).filter(([k]) => ev.ex.plan.inputs[k])), ['logits']);
      const prefix = out.logits.length / vocab - L;
      // Logits at position prefix + k - 1 predict token k.
      const next = argmax(out.logits, (prefix + ids.length - 1) * vocab, vocab);
      if (next === tok.eosId) {
        stop = 'eos';
        break;
      }
      ids.push(next);
    }
    const generated = ids.slice(start);
    return { text: tok.decode(generated), ids: generated, stop };
  } finally {
    ev.destroy();
    gpu.destroy();
  }
}
