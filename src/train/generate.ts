/**
 * An encoder-decoder's generated answers and their VQA score. A generation is the answer whose
 * token ids it starts with (end-of-sequence included); one that spells no answer scores 0. The
 * Evaluator generates over the KV cache; greedyDecode here recomputes every position, one per
 * pass (the stack is causal, so the logits at position t depend only on the tokens before
 * t + 1: later positions of the input can hold anything), kept as the cache's reference in tests.
 */
import { mostGiven, normalizeAnswer } from '../data/answers.ts';
import { DataError } from '../data/errors.ts';
import { argmax } from '../runtime/metrics.ts';
import type { Dataset, GeneratedAnswers } from '../runtime/batches.ts';

/** Runs one dataset through the model, yielding logits [valid rows of B, T, V] per batch. */
export type LogitsRunner = (ds: Dataset) => AsyncGenerator<{ logits: ArrayLike<number>; start: number; valid: number }>;

/** Greedy generations [n][T] for the examples of `ds` (their targetTokens are replaced pass by pass). */
export async function greedyDecode(
  run: LogitsRunner,
  ds: Dataset,
  start: number,
  T: number,
  V: number,
): Promise<Int32Array[]> {
  const inputs = ds.examples.map(() => new Int32Array(T).fill(start));
  const out = ds.examples.map(() => new Int32Array(T));
  for (let t = 0; t < T; t++) {
    const pass = { examples: ds.examples.map((e, i) => ({ ...e, targetTokens: inputs[i] })) };
    for await (const { logits, start: s, valid } of run(pass)) {
      for (let b = 0; b < valid; b++) {
        const next = argmax(logits, (b * T + t) * V, V);
        out[s + b][t] = next;
        if (t + 1 < T) inputs[s + b][t + 1] = next;
      }
    }
  }
  return out;
}

/** The end-of-sequence id every answer's tokens end with (runtime/batches.ts): where a generation stops. */
export function answersEos(answers: GeneratedAnswers, where: string): number {
  const first = answers.tokens[0];
  const eos = first?.[first.length - 1];
  if (eos === undefined || answers.tokens.some((a) => a.length === 0 || a[a.length - 1] !== eos))
    throw new DataError(`${where}: every answer's tokens must end with one end-of-sequence id`);
  return eos;
}

/** The answer a generation spells (its first tokens are the answer's ids, end-of-sequence included), or -1. */
export function answerOf(generated: ArrayLike<number>, answers: GeneratedAnswers): number {
  return answers.tokens.findIndex(
    (seq) =>
      seq.length <= generated.length && Array.prototype.every.call(seq, (id: number, j: number) => generated[j] === id),
  );
}

/** Example i's generation scored: its answer's soft score and whether that answer is the highest-scoring one (0 and false for no answer). */
export function generatedScore(
  generated: ArrayLike<number>,
  answers: GeneratedAnswers,
  i: number,
): { score: number; exact: boolean } {
  const a = answerOf(generated, answers);
  const s = answers.scores[i];
  return a < 0 ? { score: 0, exact: false } : { score: s[a], exact: a === argmax(s) };
}

/** VQA accuracy and exact match of generations against the answers' soft scores. */
export function scoreGenerated(
  generated: ArrayLike<number>[],
  answers: GeneratedAnswers,
): { accuracy: number; exactMatch: number } {
  let acc = 0;
  let em = 0;
  generated.forEach((g, i) => {
    const { score, exact } = generatedScore(g, answers, i);
    acc += score;
    em += exact ? 1 : 0;
  });
  return { accuracy: acc / generated.length, exactMatch: em / generated.length };
}

/**
 * VQA accuracy and exact match of generated texts against each example's annotator answers:
 * both normalized as the VQA evaluation normalizes answers; a text scores min(1, annotators
 * who gave it / 3), and matches exactly when it is the most given answer.
 */
export function scoreGeneratedTexts(
  texts: string[],
  answerTexts: string[][],
): { accuracy: number; exactMatch: number } {
  let acc = 0;
  let em = 0;
  texts.forEach((t, i) => {
    if (!answerTexts[i]?.length)
      throw new DataError(`example ${i} has no annotator answers to score its generated answer against`);
    const given = answerTexts[i].map(normalizeAnswer);
    const g = normalizeAnswer(t);
    acc += Math.min(1, given.filter((a) => a === g).length / 3);
    em += g === mostGiven(given) ? 1 : 0;
  });
  return { accuracy: acc / Math.max(1, texts.length), exactMatch: em / Math.max(1, texts.length) };
}
