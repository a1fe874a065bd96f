/**
 * Composite ops, built from primitives: the compiler differentiates them through their parts,
 * and the fuser turns the reductions among them back into single kernels.
 */
import type { Builder, Tensor } from './builder.ts';
import { ShapeError } from './ops/index.ts';
import { shapeStr } from './ir/graph.ts';

const lastAxis = (x: Tensor) => x.rank - 1;

/** Softmax over the last axis: a primitive (ops/row.ts), whose gradient needs only its output. */
export function softmax(b: Builder, x: Tensor): Tensor {
  return b.op('softmax', [x], {});
}

export function logSoftmax(_b: Builder, x: Tensor): Tensor {
  const ax = lastAxis(x);
  const z = x.sub(x.max([ax], true));
  return z.sub(z.exp().sum([ax], true).log());
}

/** Layer norm over the last axis with learned scale and shift: the row primitive (ops/row.ts), then the affine. */
export function layerNorm(b: Builder, x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  return b.op('layernorm', [x], { eps }).mul(gamma).add(beta);
}

/** RMS norm over the last axis (T5's) with a learned scale: the row primitive, then the scale. */
export function rmsNorm(b: Builder, x: Tensor, gamma: Tensor, eps = 1e-6): Tensor {
  return b.op('rmsnorm', [x], { eps }).mul(gamma);
}

/** 1.0 where labels[..] == class, over a new last axis of size `classes`. */
export function oneHot(b: Builder, labels: Tensor, classes: number): Tensor {
  const iota = b.constant([...Array(classes).keys()], [classes], 'f32');
  return b
    .cast(labels, 'f32')
    .reshape([...labels.shape, 1])
    .eq(iota);
}

/** Mean cross-entropy of logits [..., C] against integer labels [...]. */
export function crossEntropy(b: Builder, logits: Tensor, labels: Tensor): Tensor {
  const C = logits.shape[lastAxis(logits)];
  if (labels.shape.join() !== logits.shape.slice(0, -1).join()) {
    throw new ShapeError(
      'crossEntropy',
      `labels ${shapeStr(labels.shape)} must match logits ${shapeStr(logits.shape)} without the class axis`,
    );
  }
  const nll = logSoftmax(b, logits)
    .mul(oneHot(b, labels, C))
    .sum([lastAxis(logits)])
    .neg();
  return nll.mean();
}

/**
 * Binary cross-entropy with logits on soft targets in [0, 1], summed over classes and averaged
 * over the batch (the VQA convention): max(z,0) - z t + log(1 + exp(-|z|)).
 */
export function bceWithLogits(_b: Builder, logits: Tensor, targets: Tensor): Tensor {
  const loss = logits.maximum(0).sub(logits.mul(targets)).add(logits.abs().neg().exp().add(1).log());
  return loss.sum([lastAxis(logits)]).mean();
}

/** Kronecker product of matrices A [m, n] and B [p, q] -> [m p, n q], from broadcast and reshape. */
export function kron(_b: Builder, A: Tensor, B: Tensor): Tensor {
  if (A.rank !== 2 || B.rank !== 2)
    throw new ShapeError('kron', `needs two matrices, got ${shapeStr(A.shape)} and ${shapeStr(B.shape)}`);
  const [m, n] = A.shape;
  const [p, q] = B.shape;
  return A.reshape([m, 1, n, 1])
    .mul(B.reshape([1, p, 1, q]))
    .reshape([m * p, n * q]);
}

/** Inverted dropout with a counter-based mask; identity when p = 0 or not training. */
export function dropout(b: Builder, x: Tensor, p: number, seed: Tensor | null): Tensor {
  if (p <= 0 || !seed) return x;
  const keep = b.uniform(seed, x.shape).ge(p);
  return x.mul(keep).mul(1 / (1 - p));
}

export interface AttentionArgs {
  /** [B, L, H * dh] each; heads split the last axis. */
  q: Tensor;
  k: Tensor;
  v: Tensor;
  heads: number;
  /** Optional key mask [B, Lk]: 1 keeps a key, 0 masks it out. */
  keyMask?: Tensor;
  causal?: boolean;
  /** Multiplies the scores; 1/sqrt(dh) by default (T5 uses 1: its scale is folded into its weights). */
  scale?: number;
  /** Added to the scores, broadcast to [B, H, Lq, Lk] (T5's relative position bias). */
  bias?: Tensor;
  /**
   * The keys and values by head, [B, H, Lk, dh], as attention will use them: a KV cache reads
   * them here (prefill) or replaces them with the cached ones (a decoding step).
   */
  kv?: (k: Tensor, v: Tensor) => { k: Tensor; v: Tensor };
}

/** Scaled dot-product multi-head attention; returns [B, Lq, H * dh]. */
export function attention(b: Builder, { q, k, v, heads, keyMask, causal, scale, bias, kv }: AttentionArgs): Tensor {
  const [B, Lq, d] = q.shape;
  if (d % heads !== 0) throw new ShapeError('attention', `width ${d} is not divisible by ${heads} heads`);
  const dh = d / heads;
  const split = (x: Tensor) => x.reshape([B, x.shape[1], heads, dh]).permute([0, 2, 1, 3]); // [B, H, L, dh]
  const qh = split(q);
  const own = { k: split(k), v: split(v) };
  const { k: kh, v: vh } = kv ? kv(own.k, own.v) : own;
  const Lk = kh.shape[2];
  let scores = qh.matmul(kh, { transB: true });
  const s = scale ?? 1 / Math.sqrt(dh);
  if (s !== 1) scores = scores.mul(s); // [B, H, Lq, Lk]
  if (bias) scores = scores.add(bias);
  // Additive mask: -1e9 where masked, so the softmax gives those keys ~0 weight.
  if (keyMask) scores = scores.add(keyMask.reshape([B, 1, 1, Lk]).sub(1).mul(1e9));
  if (causal) {
    const tri = [];
    for (let i = 0; i < Lq; i++) for (let j = 0; j < Lk; j++) tri.push(j <= i ? 0 : -1e9);
    scores = scores.add(b.constant(tri, [Lq, Lk]));
  }
  const ctx = softmax(b, scores).matmul(vh); // [B, H, Lq, dh]
  return ctx.permute([0, 2, 1, 3]).reshape([B, Lq, d]);
}

/**
 * Mean token cross-entropy of logits [B, T, V] against labels [B, T] (i32), counting only
 * tokens whose weight [B, T] is 1 (padding and ignored positions carry 0).
 */
export function tokenCrossEntropy(b: Builder, logits: Tensor, labels: Tensor, weights: Tensor): Tensor {
  const nll = logSoftmax(b, logits)
    .mul(oneHot(b, labels, logits.shape[2]))
    .sum([2])
    .neg();
  return nll.mul(weights).sum().div(weights.sum());
}

/** x @ W (+ bias), x [..., din], W [din, dout]. */
export function linear(_b: Builder, x: Tensor, W: Tensor, bias?: Tensor): Tensor {
  const y = x.matmul(W);
  return bias ? y.add(bias) : y;
}
