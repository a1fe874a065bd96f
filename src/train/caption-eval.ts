/**
 * Captioning evaluation of an LM with a visual prefix (ViT + GPT-2, or an encoder-decoder such as
 * VL-T5): generated captions scored against each image's references with the COCO caption
 * metrics (data/caption-metrics.ts).
 * The Evaluator decodes with the KV cache (kv-generate.ts); greedyIds here is the decoder that
 * recomputes the whole sequence for every token, kept as the cache's reference in tests and
 * benchmarks.
 */
import { captionScores, type CaptionScores } from '../data/caption-metrics.ts';
import { DataError } from '../data/errors.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { makeBatch, type Dataset } from '../runtime/batches.ts';
import { argmax } from '../runtime/metrics.ts';
import type { Executor } from '../runtime/executor.ts';

export interface CaptionEvaluation {
  loss: number;
  /** CIDEr-D: what dev selection reads. */
  accuracy: number;
  /** BLEU-4. */
  exactMatch: number;
  captions: CaptionScores & { generated: string[] };
}

/**
 * Greedy continuation by recomputing the whole sequence for every token: the ids each example
 * generates after its visual prefix (without end-of-sequence), at most the tower's maxLen.
 */
export async function greedyIds(
  ex: Executor,
  spec: ModelSpec,
  data: Dataset,
  batch: number,
  s: { eos: number; pad: number },
): Promise<number[][]> {
  const text = spec.text;
  if (text?.kind !== 'decoder') throw new DataError('greedy decoding needs a decoder text tower');
  const L = text.maxLen;
  const V = text.vocab;
  const out: number[][] = [];
  for (let start = 0; start < data.examples.length; start += batch) {
    const { inputs, valid } = makeBatch(data, [...data.examples.keys()].slice(start, start + batch), batch);
    const feed = Object.fromEntries(
      Object.entries(inputs).filter(([k]) => ex.plan.inputs[k] && k !== 'tokens' && k !== 'mask'),
    );
    const ids: number[][] = Array.from({ length: batch }, () => []);
    const done = ids.map((_, b) => b >= valid);
    while (!done.every(Boolean)) {
      const tokens = new Int32Array(batch * L).fill(s.pad);
      const mask = new Float32Array(batch * L);
      ids.forEach((seq, b) => {
        tokens.set(seq, b * L);
        mask.fill(1, b * L, b * L + seq.length);
      });
      const z = (await ex.run({ ...feed, tokens, mask }, ['logits'])).logits;
      const rows = z.length / (batch * V);
      const prefix = rows - L;
      if (prefix === 0 && ids.some((seq, b) => !done[b] && seq.length === 0))
        throw new DataError('greedy decoding without a prefix needs a first token: nothing predicts it');
      ids.forEach((seq, b) => {
        if (done[b]) return;
        // Logits at position prefix + k - 1 predict text token k.
        const next = argmax(z, (b * rows + prefix + seq.length - 1) * V, V);
        if (next === s.eos) done[b] = true;
        else {
          seq.push(next);
          if (seq.length >= L) done[b] = true;
        }
      });
    }
    out.push(...ids.slice(0, valid));
  }
  return out;
}

/**
 * A batch's inputs for captioning without a prompt: a decoder LM's text empty (the caption starts
 * right after the image), an encoder-decoder's target holding only the decoder's start id.
 */
export function captionPrompt(
  inputs: Record<string, ArrayLike<number>>,
  spec: ModelSpec,
  start: number,
): Record<string, ArrayLike<number>> {
  const text = spec.text;
  if (text?.kind === 'encdec') {
    const T = text.targetLen;
    const targetTokens = new Int32Array(inputs.targetTokens.length);
    const targetMask = new Float32Array(targetTokens.length);
    for (let row = 0; row < targetTokens.length; row += T) {
      targetTokens[row] = start;
      targetMask[row] = 1;
    }
    return { ...inputs, targetTokens, targetMask };
  }
  return { ...inputs, tokens: new Int32Array(inputs.tokens.length), mask: new Float32Array(inputs.mask.length) };
}

/** Scores generated captions against `ds.captions`; `loss` is the teacher-forced loss already computed. */
export function scoreCaptions(ds: Dataset, generated: string[], loss: number, split: string): CaptionEvaluation {
  const refs = ds.captions;
  if (!refs || refs.length !== generated.length)
    throw new DataError(
      `${split}: ${refs ? `${refs.length} reference lists for ${generated.length} images` : 'no reference captions'}`,
    );
  const s = captionScores(generated.map((candidate, i) => ({ candidate, references: refs[i] })));
  return { loss, accuracy: s.CIDEr_D, exactMatch: s.BLEU_4, captions: { ...s, generated } };
}
