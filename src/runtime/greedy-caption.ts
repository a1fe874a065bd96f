/**
 * Greedy captioning with a decoder-only LM after a visual prefix (ViT + GPT-2): after an
 * optional prompt, the most likely next token until end-of-sequence or the tower's maxLen. Each
 * new token is one pass of the model over the whole sequence (the decoder is causal, so later
 * positions never change earlier logits); a KV cache is issue 33's. Shared by `peftgraph predict`
 * (on an Evaluator) and the runtime's bundled model (on an artifact): `logits` runs either.
 */
import { DataError } from '../data/errors.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import { argmax } from './metrics.ts';

export interface Caption {
  text: string;
  ids: number[];
  /** Why decoding stopped. */
  stop: 'eos' | 'maxLen';
}

export interface CaptionSettings {
  /** The text tower's sequence length: prompt and caption together. */
  maxLen: number;
  vocab: number;
  /** Whether an image prefix precedes the text (else the caption starts after end-of-sequence, as GPT-2 does). */
  prefixed: boolean;
  prompt?: string;
}

export async function greedyCaption(
  tok: TextTokenizer,
  o: CaptionSettings,
  logits: (tokens: Int32Array, mask: Float32Array) => Promise<ArrayLike<number>>,
): Promise<Caption> {
  if (tok.eosId === undefined)
    throw new DataError(
      `${tok.source}: no end-of-sequence token (tokenizer_config.json eos_token or config.json eos_token_id): generation could not stop`,
    );
  const L = o.maxLen;
  const enc = o.prompt ? tok.encode(o.prompt, L) : null;
  const ids = enc ? Array.from(enc.ids.slice(0, Math.min(enc.length, L))) : [];
  // Without a prefix nothing predicts the first token: start from end-of-sequence, as GPT-2 does.
  if (ids.length === 0 && !o.prefixed) ids.push(tok.eosId);
  if (ids.length >= L)
    throw new DataError(`the prompt takes ${ids.length} tokens, leaving none of the tower's maxLen ${L} to generate`);
  const start = ids.length;
  let stop: Caption['stop'] = 'maxLen';
  while (ids.length < L) {
    const tokens = new Int32Array(L).fill(tok.padId);
    tokens.set(ids);
    const mask = new Float32Array(L).fill(1, 0, ids.length);
    const z = await logits(tokens, mask);
    const prefix = z.length / o.vocab - L;
    // Logits at position prefix + k - 1 predict token k.
    const next = argmax(z, (prefix + ids.length - 1) * o.vocab, o.vocab);
    if (next === tok.eosId) {
      stop = 'eos';
      break;
    }
    ids.push(next);
  }
  const generated = ids.slice(start);
  return { text: tok.decode(generated), ids: generated, stop };
}
