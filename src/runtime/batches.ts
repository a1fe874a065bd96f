/**
 * Datasets for the trainer: examples as named per-example arrays, assembled into static-shape
 * batches. Shuffling is seeded per epoch, so a run (and a resumed run) sees the same batches.
 */
import { DataError } from '../data/errors.ts';
import { prng } from './init.ts';

export type Example = Record<string, ArrayLike<number>>;

export interface Dataset {
  examples: Example[];
  /** Generative VQA (an encoder-decoder's 'lm' head): what evaluation scores generated answers against. */
  answers?: GeneratedAnswers;
  /** Captioning: each example's reference captions, which evaluation scores generated captions against (CIDEr-D, BLEU, ROUGE-L). */
  captions?: string[][];
  /**
   * Generative VQA from VQA files: each example's annotator answers, which evaluation scores the
   * decoded text of a greedy generation against as VQA does (normalized; min(1, matches / 3)).
   * The open-vocabulary alternative to `answers`.
   */
  answerTexts?: string[][];
}

/**
 * The answer vocabulary as the decoder writes it: `tokens[a]` is answer a's token ids ending
 * with the end-of-sequence id, `start` the decoder's start id, and `scores[i][a]` example i's
 * soft score for answer a (VQA: min(1, annotators / 3)); a generation that is no answer scores 0.
 */
export interface GeneratedAnswers {
  tokens: ArrayLike<number>[];
  start: number;
  scores: ArrayLike<number>[];
}

/** Stacks examples into batch arrays; a short final batch repeats its last example (`valid` says how many are real). */
export function makeBatch(
  ds: Dataset,
  idx: number[],
  batch: number,
): { inputs: Record<string, Float32Array | Int32Array>; valid: number } {
  const first = ds.examples[idx[0]];
  const inputs: Record<string, Float32Array | Int32Array> = {};
  for (const [k, v] of Object.entries(first)) {
    const isInt = v instanceof Int32Array;
    const arr = isInt ? new Int32Array(batch * v.length) : new Float32Array(batch * v.length);
    for (let b = 0; b < batch; b++) {
      const ex = ds.examples[idx[Math.min(b, idx.length - 1)]][k];
      if (ex.length !== v.length)
        throw new Error(`example ${idx[b]}: '${k}' has ${ex.length} values, the first example ${v.length}`);
      arr.set(ex as ArrayLike<number>, b * v.length);
    }
    inputs[k] = arr;
  }
  return { inputs, valid: Math.min(batch, idx.length) };
}

/** Seeded permutation (Fisher-Yates). */
export function shuffled(n: number, seed: number): number[] {
  const r = prng(seed);
  const a = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Training batches of epoch `epoch`: full batches only (static shapes), order seeded by (seed, epoch). */
export function epochBatches(n: number, batch: number, seed: number, epoch: number): number[][] {
  const order = shuffled(n, (seed * 1000003 + epoch) >>> 0);
  const out: number[][] = [];
  for (let i = 0; i + batch <= n; i += batch) out.push(order.slice(i, i + batch));
  if (out.length === 0)
    throw new DataError(
      `train: a batch of ${batch} needs at least ${batch} training examples, got ${n} (lower the batch: trainConfig({ batch }), --batch)`,
    );
  return out;
}
