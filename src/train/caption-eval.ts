/**
 * Captioning evaluation of a decoder LM with a visual prefix (ViT + GPT-2): a greedy caption per
 * image, batched (every image of a batch advances one token per pass; a finished one waits), then
 * scored against the image's references with the COCO caption metrics (data/caption-metrics.ts).
 * Each pass runs the whole sequence; the KV-cached decoder is the next step of captioning.
 */
import { captionScores, type CaptionScores } from '../data/caption-metrics.ts';
import { tokenizerFor } from '../data/encoders.ts';
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

/** The greedy caption of every example of `data` (as the plan reads it), in order. */
export async function generateCaptions(ex: Executor, spec: ModelSpec, data: Dataset, batch: number): Promise<string[]> {
  if (spec.head.kind !== 'lm' || spec.text?.kind !== 'decoder' || spec.visualPrefix === 'none')
    throw new DataError('caption evaluation needs a decoder text tower with a visual prefix and an lm head');
  const tok = tokenizerFor(spec);
  if (tok.eosId === undefined)
    throw new DataError(`${tok.source}: no end-of-sequence token: generated captions could not stop`);
  const ids = await greedyIds(ex, spec, data, batch, { eos: tok.eosId, pad: tok.padId });
  return ids.map((s) => tok.decode(s));
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
