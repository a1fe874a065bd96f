/**
 * Captioning one image with the cached decoder (kv-decode.ts): the image (and an optional
 * prompt) fill the decoder's rows, then beam search over them (its width is the decoder's
 * batch), or greedy decoding when it has one row. Shared by `peftgraph predict` and the
 * runtime's bundled model, so both caption alike.
 */
import { DataError } from '../data/errors.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import type { CachedDecoder } from './kv-decode.ts';

export interface Caption {
  text: string;
  ids: number[];
  /** Why decoding stopped. */
  stop: 'eos' | 'maxLen';
  /** Beam search: the hypothesis' score, sum(log p) / tokens^lengthPenalty. */
  score?: number;
  /** The beam width (1: greedy). */
  beam: number;
}

export interface CaptionRequest {
  /** Whether an image prefix precedes the text (else the caption starts after end-of-sequence, as GPT-2 does). */
  prefixed: boolean;
  prompt?: string;
  lengthPenalty?: number;
}

export async function captionImage(
  dec: CachedDecoder,
  tok: TextTokenizer,
  inputs: Record<string, ArrayLike<number>>,
  o: CaptionRequest,
): Promise<Caption> {
  if (tok.eosId === undefined)
    throw new DataError(
      `${tok.source}: no end-of-sequence token (tokenizer_config.json eos_token or config.json eos_token_id): generation could not stop`,
    );
  const L = dec.text.maxLen;
  const W = dec.batch;
  const enc = o.prompt ? tok.encode(o.prompt, L) : null;
  const prompt = enc ? Array.from(enc.ids.slice(0, Math.min(enc.length, L))) : [];
  // A prompt's template may end it with end-of-sequence (T5's): the caption continues the text before it.
  if (prompt.at(-1) === tok.eosId && prompt.length > 1) prompt.pop();
  // Without a prefix nothing predicts the first token: start from end-of-sequence, as GPT-2 does.
  if (prompt.length === 0 && !o.prefixed) prompt.push(tok.eosId);
  if (prompt.length >= L)
    throw new DataError(
      `the prompt takes ${prompt.length} tokens, leaving none of the tower's maxLen ${L} to generate`,
    );
  const tokens = new Int32Array(W * L).fill(tok.padId);
  const mask = new Float32Array(W * L);
  for (let b = 0; b < W; b++) {
    tokens.set(prompt, b * L);
    mask.fill(1, b * L, b * L + prompt.length);
  }
  // The image in every row: each beam continues it.
  const rows = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [k, Float32Array.from({ length: v.length * W }, (_, i) => v[i % v.length])]),
  );
  const feed = { ...rows, tokens, mask };
  const settings = { eos: tok.eosId, pad: tok.padId };
  const best =
    W === 1
      ? { ids: (await dec.greedy(feed, settings))[0], score: undefined }
      : (await dec.beam(feed, { ...settings, width: W, lengthPenalty: o.lengthPenalty }))[0];
  return {
    text: tok.decode(best.ids),
    ids: best.ids,
    stop: prompt.length + best.ids.length >= L ? 'maxLen' : 'eos',
    ...(best.score !== undefined ? { score: best.score } : {}),
    beam: W,
  };
}
