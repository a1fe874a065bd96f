/**
 * Task heads and their losses: the VQA classifier (d -> 2d -> LN -> gelu -> answers, METHODS.md)
 * with BCE on soft scores or CE on labels, and token cross-entropy for language models.
 */
import type { Tensor } from '../builder.ts';
import { bceWithLogits, crossEntropy, layerNorm, tokenCrossEntropy } from '../composites.ts';
import type { Lowering } from './context.ts';
import { linear } from './hooks.ts';
import { regionMeans, type PatchGrid } from './vision.ts';

export function classifierHead(ctx: Lowering, pooled: Tensor, answers: number): Tensor {
  const d = pooled.shape[1];
  return ctx.b.scope('head', () => {
    const z = linear(ctx, 'head.fc1', pooled, d, 2 * d);
    const n = layerNorm(ctx.b, z, ctx.normScale('head.ln.g', [2 * d]), ctx.bias('head.ln.b', [2 * d])).gelu();
    return linear(ctx, 'head.fc2', n, 2 * d, answers);
  });
}

/** Region readout of a ViT's final states: each region's mean (vision.ts regionMeans) through one linear layer: [B, R, classes]. */
export function regionHead(
  ctx: Lowering,
  hidden: Tensor,
  vit: PatchGrid,
  grid: [number, number],
  classes: number,
): Tensor {
  return ctx.b.scope('head', () =>
    linear(ctx, 'head.fc', regionMeans(ctx, hidden, vit, grid), hidden.shape[2], classes),
  );
}

/** CE of region logits [B, R, classes] against integer `labels` [B, R]. */
export function regionLoss(ctx: Lowering, logits: Tensor): Tensor {
  const [B, R] = logits.shape;
  return ctx.b.scope('loss', () => crossEntropy(ctx.b, logits, ctx.b.input('labels', [B, R], 'i32')));
}

/** BCE against soft `targets` [B, answers], or CE against integer `labels` [B]. */
export function classifierLoss(ctx: Lowering, logits: Tensor, loss: 'bce' | 'ce'): Tensor {
  const [B, answers] = logits.shape;
  return ctx.b.scope('loss', () =>
    loss === 'bce'
      ? bceWithLogits(ctx.b, logits, ctx.b.input('targets', [B, answers]))
      : crossEntropy(ctx.b, logits, ctx.b.input('labels', [B], 'i32')),
  );
}

/** Teacher-forced loss of an encoder-decoder: logits [B, T, V] against `targetLabels` [B, T]. */
export function seq2seqLoss(ctx: Lowering, logits: Tensor, targetMask: Tensor): Tensor {
  const labels = ctx.b.input('targetLabels', logits.shape.slice(0, 2), 'i32');
  return ctx.b.scope('loss', () => tokenCrossEntropy(ctx.b, logits, labels, targetMask));
}

/**
 * Next-token loss of a decoder-only LM whose sequence is `prefix` (n tokens) then the text
 * tokens: the logits at position n + j - 1 predict text token j, for every j the mask keeps
 * (j >= 1 without a prefix: nothing predicts the first token then).
 */
export function nextTokenLoss(ctx: Lowering, logits: Tensor, tokens: Tensor, mask: Tensor, n: number): Tensor {
  const [B, , V] = logits.shape;
  const L = tokens.shape[1];
  const j0 = n === 0 ? 1 : 0;
  return ctx.b.scope('loss', () => {
    const pred = ctx.b.slice(logits, [0, n + j0 - 1, 0], [B, n + L - 1, V]);
    const labels = ctx.b.slice(tokens, [0, j0], [B, L]);
    return tokenCrossEntropy(ctx.b, pred, labels, ctx.b.slice(mask, [0, j0], [B, L]));
  });
}
