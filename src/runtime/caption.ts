/**
 * Captioning one image with the cached decoder (kv-decode.ts): the image (and an optional
 * prompt) fill the decoder's rows, then beam search over them (its width is the decoder's
 * batch), or greedy decoding when it has one row. An encoder-decoder's decoder starts from its
 * start id; its encoder reads the image and whatever text the inputs hold (a question, or none
 * for a caption). Shared by `peftgraph predict` and the runtime's bundled model, so both caption
 * alike.
 */
import { DataError } from '../data/errors.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import type { CachedDecoder, KvSettings } from './kv-decode.ts';

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
  /** Text a decoder LM's caption continues (an encoder-decoder's text goes to its encoder, in the inputs). */
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
  if (dec.text.prompt && o.prompt !== undefined)
    throw new DataError(
      "an encoder-decoder's decoder starts from its start id: its text goes to the encoder, not a prompt",
    );
  const enc = o.prompt ? tok.encode(o.prompt, L) : null;
  const prompt = enc ? Array.from(enc.ids.slice(0, Math.min(enc.length, L))) : [];
  // A prompt's template may end it with end-of-sequence (T5's): the caption continues the text before it.
  if (prompt.at(-1) === tok.eosId && prompt.length > 1) prompt.pop();
  // T5's decoder starts from the pad id (its decoder_start_token_id).
  if (dec.text.prompt) prompt.push(tok.padId);
  // Without a prefix nothing predicts the first token: start from end-of-sequence, as GPT-2 does.
  if (prompt.length === 0 && !o.prefixed) prompt.push(tok.eosId);
  if (dec.maxTokens(prompt.length) < 1)
    throw new DataError(
      `the prompt takes ${prompt.length} tokens, leaving none of the tower's maxLen ${L} to generate`,
    );
  const best = await decodeOne(dec, inputs, prompt, { eos: tok.eosId, pad: tok.padId, lengthPenalty: o.lengthPenalty });
  return {
    text: tok.decode(best.ids),
    ids: best.ids,
    stop: best.ids.length >= dec.maxTokens(prompt.length) ? 'maxLen' : 'eos',
    ...(best.score !== undefined ? { score: best.score } : {}),
    beam: dec.batch,
  };
}

/**
 * One input (`inputs`: one example's image, and whatever else the prefill reads besides the
 * decoder's text: an encoder-decoder's encoder text) continued after `prompt` ids: in every row
 * of the decoder, then beam search over them (its width is the decoder's batch), or greedy
 * decoding when it has one row.
 */
export async function decodeOne(
  dec: CachedDecoder,
  inputs: Record<string, ArrayLike<number>>,
  prompt: ArrayLike<number>,
  s: KvSettings & { lengthPenalty?: number },
): Promise<{ ids: number[]; score?: number }> {
  const L = dec.text.maxLen;
  const W = dec.batch;
  const tokens = new Int32Array(W * L).fill(s.pad);
  const mask = new Float32Array(W * L);
  for (let b = 0; b < W; b++) {
    tokens.set(Array.from(prompt), b * L);
    mask.fill(1, b * L, b * L + prompt.length);
  }
  // The input in every row, ids kept as integers: each beam continues it.
  const rows = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => {
      const row = v instanceof Int32Array ? new Int32Array(v.length * W) : new Float32Array(v.length * W);
      for (let i = 0; i < row.length; i++) row[i] = v[i % v.length];
      return [k, row];
    }),
  );
  const names = dec.text.prompt ?? { tokens: 'tokens', mask: 'mask' };
  const feed = { ...rows, [names.tokens]: tokens, [names.mask]: mask };
  return W === 1 ? { ids: (await dec.greedy(feed, s))[0] } : (await dec.beam(feed, { ...s, width: W }))[0];
}
