/**
 * MixPHM's redundancy regularization (as the reference code does it), per MixPHM module:
 * - redundancy: Barlow-Twins-style off-diagonal energy of C = h_a_hat^T h_hat over valid tokens,
 *   lambda * sum_{i != j} C_ij^2 / B;
 * - relevance: a Jensen-Shannon MI estimator between each token of h_a and the mean-pooled
 *   final hidden state of the same stack (positives: same sample), loss E_neg - E_pos.
 * Terms are averaged over a stack's modules; with several stacks, stack means are averaged.
 */
import type { Builder, Tensor } from '../builder.ts';
import type { Lowering, ModuleRecord } from './context.ts';
import { maskedMean } from './blocks.ts';

function softplus(x: Tensor): Tensor {
  return x.maximum(0).add(x.abs().neg().exp().add(1).log());
}

function l2normalize(x: Tensor): Tensor {
  return x.mul(
    x
      .mul(x)
      .sum([x.rank - 1], true)
      .add(1e-12)
      .rsqrt(),
  );
}

export function redundancyTerm(b: Builder, m: ModuleRecord, mask: Tensor | null, lambda: number): Tensor {
  const [B, L, d] = m.h.shape;
  const valid = mask ? mask.reshape([B * L, 1]) : b.constant(1, [B * L, 1]);
  const A = l2normalize(m.ha)
    .reshape([B * L, d])
    .mul(valid);
  const H = l2normalize(m.h)
    .reshape([B * L, d])
    .mul(valid);
  const C = A.matmul(H, { transA: true }); // [d, d]
  const diag = A.mul(H).sum([0]); // C_ii
  return C.mul(C)
    .sum()
    .sub(diag.mul(diag).sum())
    .mul(lambda / B);
}

export function relevanceTerm(b: Builder, m: ModuleRecord, mask: Tensor | null, final: Tensor): Tensor {
  const [B, L, d] = m.ha.shape;
  const pooled = maskedMean(final, mask); // [B, d]
  const s = m.ha.reshape([B * L, d]).matmul(pooled, { transB: true }); // [B*L, B] scores
  const same: number[] = [];
  for (let t = 0; t < B * L; t++) for (let j = 0; j < B; j++) same.push(Math.floor(t / L) === j ? 1 : 0);
  const P = b.constant(same, [B * L, B]);
  const valid = mask ? mask.reshape([B * L, 1]) : b.constant(1, [B * L, 1]);
  const nValid = valid.sum();
  const ePos = softplus(s.neg()).neg().mul(P).mul(valid).sum().div(nValid);
  if (B < 2) return ePos.neg(); // no negatives in a batch of one
  const eNeg = softplus(s.neg())
    .add(s)
    .mul(P.neg().add(1))
    .mul(valid)
    .sum()
    .div(nValid.mul(B - 1));
  return eNeg.sub(ePos);
}

/** Weighted regularizer and its parts, or null when no MixPHM module exists. */
export function redundancyLoss(
  ctx: Lowering,
  w: { red: number; rel: number; lambda: number },
): { total: Tensor; red: Tensor; rel: Tensor } | null {
  if (ctx.modules.length === 0) return null;
  const b = ctx.b;
  return b.scope('regularizer', () => {
    const stacks = [...new Set(ctx.modules.map((m) => m.stack))];
    const perStack = stacks.map((s) => {
      const fin = ctx.finals.get(s)!;
      const mods = ctx.modules.filter((m) => m.stack === s);
      const mean = (xs: Tensor[]) => xs.reduce((p, q) => p.add(q)).mul(1 / xs.length);
      return {
        red: mean(mods.map((m) => redundancyTerm(b, m, fin.mask, w.lambda))),
        rel: mean(mods.map((m) => relevanceTerm(b, m, fin.mask, fin.hidden))),
      };
    });
    const avg = (k: 'red' | 'rel') =>
      perStack
        .map((p) => p[k])
        .reduce((p, q) => p.add(q))
        .mul(1 / perStack.length);
    const red = avg('red');
    const rel = avg('rel');
    return { total: red.mul(w.red).add(rel.mul(w.rel)), red, rel };
  });
}
