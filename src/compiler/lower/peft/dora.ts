/**
 * DoRA (Liu et al. 2024): the weight split into a magnitude and a direction, the direction
 * updated by LoRA. With V = W0 + s A B (s = alpha / r) and our W laid out [in, out], each output
 * j has its column norm ||V||_j and a trained magnitude m_j, and
 *   y = x (m / ||V||) ⊙ V + b = y0 + (g - 1) ⊙ (x W0) + g ⊙ s (x A B),   g = m / ||V||,
 * where y0 = x W0 + b is the layer's own output. m starts at ||W0||_j (the derived initializer
 * columnNorm of W0: B starts at zero, so V = W0), the value HF PEFT stores as
 * lora_magnitude_vector. HF PEFT detaches ||V|| in the backward (the paper's section 4.3, to
 * save memory); here the gradient is the exact one, so training follows the true loss surface
 * and finite differences check it. With dropout, as HF PEFT: the base term reads the dropped
 * input. Merging folds it exactly: W' = (m / ||V||) ⊙ V, the bias unchanged.
 */
import type { DoraSpec } from '../../../dsl/peft/dora.ts';
import { matches } from '../../../dsl/paths.ts';
import { defineMethod, type TrainedWeights } from './method.ts';

const scaleOf = (spec: DoraSpec) => (spec.alpha ?? spec.rank) / spec.rank;

/** W += s A B, then each column j scaled by m_j / ||column j||, for every linear the insertion covers. */
function fold(spec: DoraSpec, trained: TrainedWeights, out: Record<string, Float64Array>): void {
  for (const name of Object.keys(trained)) {
    const hit = /^(.*)\.dora\.m$/.exec(name);
    if (!hit || !matches(spec.at, hit[1])) continue;
    const [W, A, B, m] = [out[`${hit[1]}.W`], trained[`${hit[1]}.dora.A`], trained[`${hit[1]}.dora.B`], trained[name]];
    const r = spec.rank;
    const dout = m.length;
    const din = W.length / dout;
    const s = scaleOf(spec);
    for (let i = 0; i < din; i++)
      for (let k = 0; k < r; k++) {
        const a = A[i * r + k] * s;
        if (a !== 0) for (let j = 0; j < dout; j++) W[i * dout + j] += a * B[k * dout + j];
      }
    for (let j = 0; j < dout; j++) {
      let sq = 0;
      for (let i = 0; i < din; i++) sq += W[i * dout + j] ** 2;
      const g = m[j] / Math.sqrt(sq);
      for (let i = 0; i < din; i++) W[i * dout + j] *= g;
    }
  }
}

export const doraMethod = defineMethod<DoraSpec>({
  attach: 'linear',
  tag: /\.dora\./,
  output: (ctx, spec, site, x, y) => {
    const { path, din, dout, W, b } = site;
    const r = spec.rank;
    // Kaiming-uniform A and zero B, as LoRA (and HF PEFT's default init).
    const A = ctx.peftParam(`${path}.dora.A`, [din, r], { kind: 'uniform', bound: 1 / Math.sqrt(din) });
    const B = ctx.peftParam(`${path}.dora.B`, [r, dout], { kind: 'zeros' });
    const m = ctx.peftParam(
      `${path}.dora.m`,
      [dout],
      { kind: 'derived', from: `${path}.W`, rule: 'columnNorm' },
      { noDecay: true },
    );
    return ctx.b.scope('dora', () => {
      const s = scaleOf(spec);
      const V = W.add(A.matmul(B).mul(s));
      const g = m.div(V.mul(V).sum([0]).sqrt());
      const xd = ctx.dropout(x, spec.dropout);
      // y0 - b is x W0 without a second matmul, unless dropout changed the input.
      const base = xd === x ? (b ? y.sub(b) : y) : xd.matmul(W);
      return y.add(base.mul(g.sub(1))).add(xd.matmul(A).matmul(B).mul(g.mul(s)));
    });
  },
  merge: { folds: () => true, fold },
});
