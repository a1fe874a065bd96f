/**
 * Scoring a decoder-only LM (GPT-2 with a visual prefix) under teacher forcing, on the host from
 * its logits: the next-token cross-entropy of every kept text token (the same positions and
 * weights as the training loss, lower/heads.ts nextTokenLoss), top-1 next-token accuracy, and the
 * share of examples whose every kept token is predicted. Per example, so a padded last batch
 * counts only its real rows. (Caption metrics on generated text are issue 33's.)
 */

export interface TokenScore {
  /** Sum of the tokens' cross-entropies (nats). */
  nll: number;
  /** Tokens scored, and of them predicted right (argmax). */
  tokens: number;
  correct: number;
  /** Examples scored, and of them with every token right. */
  examples: number;
  whole: number;
}

export const emptyScore = (): TokenScore => ({ nll: 0, tokens: 0, correct: 0, examples: 0, whole: 0 });

/**
 * Adds rows [0, valid) of a batch: `logits` [B, n + L, V] (n prefix positions), `tokens` and
 * `mask` [B, L]. Logits at position n + j - 1 predict text token j, for every j >= j0 the mask
 * keeps (j0 = 1 without a prefix: nothing predicts the first token then).
 */
export function scoreNextTokens(
  into: TokenScore,
  logits: ArrayLike<number>,
  tokens: ArrayLike<number>,
  mask: ArrayLike<number>,
  batch: number,
  valid: number,
  vocab: number,
): void {
  const L = tokens.length / batch;
  const n = logits.length / (batch * vocab) - L;
  if (!Number.isInteger(n) || n < 0)
    throw new Error(
      `scoreNextTokens: logits of ${logits.length} values do not fit batch ${batch} x (prefix + ${L}) x ${vocab}`,
    );
  const j0 = n === 0 ? 1 : 0;
  score(
    into,
    logits,
    valid,
    vocab,
    L,
    (b, j) => (j < j0 || mask[b * L + j] === 0 ? -1 : (b * (n + L) + n + j - 1) * vocab),
    (b, j) => tokens[b * L + j],
  );
}

/**
 * An encoder-decoder's teacher-forced targets: `logits` [B, T, V] at position t against
 * `labels` [B, T], kept where `weights` is not 0 (the same as the graph's seq2seq loss).
 */
export function scoreTargets(
  into: TokenScore,
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  weights: ArrayLike<number>,
  batch: number,
  valid: number,
  vocab: number,
): void {
  const T = labels.length / batch;
  score(
    into,
    logits,
    valid,
    vocab,
    T,
    (b, t) => (weights[b * T + t] === 0 ? -1 : (b * T + t) * vocab),
    (b, t) => labels[b * T + t],
  );
}

/** Scores rows [0, valid) over positions j < L: `row(b, j)` is the logits' offset (-1: not scored), `label(b, j)` the token. */
function score(
  into: TokenScore,
  logits: ArrayLike<number>,
  valid: number,
  vocab: number,
  L: number,
  rowAt: (b: number, j: number) => number,
  labelAt: (b: number, j: number) => number,
): void {
  for (let b = 0; b < valid; b++) {
    let all = true;
    let kept = 0;
    for (let j = 0; j < L; j++) {
      const row = rowAt(b, j);
      if (row < 0) continue;
      const label = labelAt(b, j);
      let max = Number.NEGATIVE_INFINITY;
      let arg = 0;
      for (let v = 0; v < vocab; v++) {
        const z = logits[row + v];
        if (z > max) {
          max = z;
          arg = v;
        }
      }
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(logits[row + v] - max);
      into.nll += Math.log(sum) + max - logits[row + label];
      into.tokens++;
      kept++;
      if (arg === label) into.correct++;
      else all = false;
    }
    into.examples++;
    if (all && kept > 0) into.whole++;
  }
}
