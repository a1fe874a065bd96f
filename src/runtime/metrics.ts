/** VQA metrics. */

/** VQA soft score of an answer given the annotators' answers: min(1, #humans who gave it / 3). */
export function vqaSoftScore(answer: number, annotators: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < annotators.length; i++) if (annotators[i] === answer) n++;
  return Math.min(1, n / 3);
}

/** Soft-score targets over the answer vocabulary, from annotators' answers. */
export function softTargets(annotators: ArrayLike<number>, answers: number): Float32Array {
  const t = new Float32Array(answers);
  for (let a = 0; a < answers; a++) t[a] = vqaSoftScore(a, annotators);
  return t;
}

export function argmax(x: ArrayLike<number>, offset = 0, n = x.length - offset): number {
  let best = offset;
  for (let i = offset + 1; i < offset + n; i++) if (x[i] > x[best]) best = i;
  return best - offset;
}

/** Mean VQA accuracy of predictions (argmax of logits [N, A]) against soft targets [N, A]. */
export function vqaAccuracy(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  answers: number,
  count: number,
): number {
  let acc = 0;
  for (let i = 0; i < count; i++) acc += targets[i * answers + argmax(logits, i * answers, answers)];
  return acc / count;
}

/**
 * Exact match: the prediction is a highest-scoring target answer, and that score is above 0. An
 * example whose answers are all outside the answer classes (a zero target row) matches nothing:
 * comparing argmaxes counted it as class 0.
 */
export function exactMatch(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  answers: number,
  count: number,
): number {
  let hit = 0;
  for (let i = 0; i < count; i++) {
    const best = targets[i * answers + argmax(targets, i * answers, answers)];
    hit += best > 0 && targets[i * answers + argmax(logits, i * answers, answers)] === best ? 1 : 0;
  }
  return hit / count;
}

/** log(1 + exp(x)) without overflow. */
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/**
 * The classifier's task loss of example i, as the graph defines it (composites.ts): BCE with
 * logits summed over the answers for soft `targets`, or cross-entropy against an integer label.
 * Per example, so a mean over a dataset does not depend on how it was batched.
 */
export function classifierLossAt(
  logits: ArrayLike<number>,
  i: number,
  answers: number,
  y: { targets: ArrayLike<number> } | { labels: ArrayLike<number> },
): number {
  const at = i * answers;
  if ('labels' in y) {
    let max = Number.NEGATIVE_INFINITY;
    for (let a = 0; a < answers; a++) max = Math.max(max, logits[at + a]);
    let sum = 0;
    for (let a = 0; a < answers; a++) sum += Math.exp(logits[at + a] - max);
    return Math.log(sum) + max - logits[at + y.labels[i]];
  }
  let loss = 0;
  for (let a = 0; a < answers; a++) {
    const z = logits[at + a];
    loss += softplus(z) - z * y.targets[at + a];
  }
  return loss;
}

/** Scores per answer from logits: independent sigmoids (BCE heads) or a softmax (CE heads). */
export function answerScores(logits: ArrayLike<number>, loss: 'bce' | 'ce'): number[] {
  const z = Array.from(logits);
  if (loss === 'bce') return z.map((v) => 1 / (1 + Math.exp(-v)));
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
