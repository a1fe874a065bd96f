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
export function vqaAccuracy(logits: ArrayLike<number>, targets: ArrayLike<number>, answers: number, count: number): number {
  let acc = 0;
  for (let i = 0; i < count; i++) acc += targets[i * answers + argmax(logits, i * answers, answers)];
  return acc / count;
}

/** Exact match: the prediction is the highest-scoring target answer. */
export function exactMatch(logits: ArrayLike<number>, targets: ArrayLike<number>, answers: number, count: number): number {
  let hit = 0;
  for (let i = 0; i < count; i++) hit += argmax(logits, i * answers, answers) === argmax(targets, i * answers, answers) ? 1 : 0;
  return hit / count;
}
