/**
 * Caption records as the tensors a captioning LM takes. A decoder LM with a visual prefix
 * (ViT + GPT-2): image [C, H, W], the caption as tokens and mask [maxLen]. An encoder-decoder
 * (VL-T5 style): the encoder reads the image and an empty text (the tokenizer's template alone,
 * T5's end-of-sequence), and the caption is the decoder's target [targetLen]: labels, and the
 * same shifted right after the decoder's start id as its inputs. Training: one example per
 * caption (captions.ts), ending in one end-of-sequence token inside the loss, so greedy decoding
 * learns where a caption stops (Routing_VLPEFT pads with end-of-sequence outside the loss and
 * cuts generation at a length instead). Evaluation: one example per image, its first caption for
 * the teacher-forced loss, all its captions as the references generated captions are scored
 * against.
 */
import type { Dataset, Example } from '../runtime/batches.ts';
import { type CaptionRecord, captionPairs } from './captions.ts';
import { DataError } from './errors.ts';
import type { ImageProcessor } from './image.ts';
import type { TextTokenizer } from './tokenizer.ts';

export interface CaptionEncoders {
  tokenizer: TextTokenizer;
  processor: ImageProcessor;
  /** The text tower's sequence length. */
  maxLen: number;
  /** An encoder-decoder: the caption is the decoder's target of `targetLen` tokens, its inputs started from `start`. */
  decoder?: { targetLen: number; start: number };
}

/** A caption's ids and mask: its tokens, then end-of-sequence, truncated to leave room for it. */
export function captionTokens(
  tok: TextTokenizer,
  caption: string,
  maxLen: number,
): { ids: Int32Array; mask: Float32Array; truncated: boolean } {
  if (tok.eosId === undefined)
    throw new DataError(
      `${tok.source}: no end-of-sequence token (tokenizer_config.json eos_token or config.json eos_token_id): captions could not end`,
    );
  const enc = tok.encode(caption, maxLen);
  const n = Math.min(enc.length, maxLen);
  // A template that ends the text with end-of-sequence (T5's) keeps it through truncation: it is not the caption's.
  const templateEos = enc.ids[n - 1] === tok.eosId;
  const body = Array.from(enc.ids.slice(0, n)).filter((id, i) => !(i === n - 1 && id === tok.eosId));
  // The caption's own tokens, untruncated, and the end-of-sequence after them must fit.
  const truncated = enc.length - (templateEos ? 1 : 0) + 1 > maxLen;
  const ids = [...body.slice(0, maxLen - 1), tok.eosId];
  const out = new Int32Array(maxLen).fill(tok.padId);
  out.set(ids);
  const mask = new Float32Array(maxLen).fill(1, 0, ids.length);
  return { ids: out, mask, truncated };
}

/**
 * An encoder-decoder's target text as its decoder's inputs under teacher forcing: the decoder
 * reads the start id then the text, and predicts the text then end-of-sequence (T5's
 * _shift_right). `t` is the text's ids and mask (captionTokens).
 */
export function decoderTargets(
  t: { ids: Int32Array; mask: Float32Array },
  start: number,
  pad: number,
): { targetTokens: Int32Array; targetLabels: Int32Array; targetMask: Float32Array } {
  const targetTokens = new Int32Array(t.ids.length).fill(pad);
  targetTokens[0] = start;
  targetTokens.set(t.ids.subarray(0, t.ids.length - 1), 1);
  return { targetTokens, targetLabels: t.ids, targetMask: t.mask };
}

/** The records as training pairs (one per caption) or evaluation images (one per image, with references). */
export async function toCaptionDataset(
  records: CaptionRecord[],
  e: CaptionEncoders,
  use: 'train' | 'eval',
): Promise<Dataset & { truncated: number }> {
  const images = new Map<string, Float32Array>();
  const pixels = async (path: string, where: string) => {
    let px = images.get(path);
    if (!px) {
      try {
        px = await e.processor.load(path);
      } catch (err) {
        throw new DataError(`${where}: ${(err as Error).message}`);
      }
      images.set(path, px);
    }
    return px;
  };
  const examples: Example[] = [];
  let truncated = 0;
  const items =
    use === 'train'
      ? captionPairs(records)
      : records.map((r) => ({ image: r.image, caption: r.captions[0], where: r.where }));
  const prompt = e.decoder && e.tokenizer.encode('', e.maxLen);
  for (const it of items) {
    const t = captionTokens(e.tokenizer, it.caption, e.decoder?.targetLen ?? e.maxLen);
    if (t.truncated) truncated++;
    const image = await pixels(it.image, it.where);
    if (!e.decoder || !prompt) {
      examples.push({ image, tokens: t.ids, mask: t.mask });
      continue;
    }
    examples.push({
      image,
      tokens: prompt.ids,
      mask: prompt.mask,
      ...decoderTargets(t, e.decoder.start, e.tokenizer.padId),
    });
  }
  return { examples, truncated, ...(use === 'eval' ? { captions: records.map((r) => r.captions) } : {}) };
}
