/**
 * LoRA: W0 x + (alpha/r) B A x, A Kaiming-uniform, B zeros, on any linear. With a routing
 * function the low-rank path becomes (alpha/r) W_up f(W_down x_H, W_down x_R) (Qu et al. 2024).
 * Merging folds plain LoRA into W0 (not with routing: it depends on the image).
 */
import type { Tensor } from '../../builder.ts';
import type { Lowering } from '../context.ts';
import { route, visualFeature } from './routing.ts';
import { defineMethod, type TrainedWeights } from './method.ts';
import { matches } from '../../../dsl/paths.ts';
import type { LoraSpec } from '../../../dsl/peft/lora.ts';

export function loraDelta(ctx: Lowering, spec: LoraSpec, path: string, x: Tensor, din: number, dout: number): Tensor {
  const r = spec.rank;
  const scale = (spec.alpha ?? r) / r;
  // Kaiming-uniform with a = sqrt(5), as nn.Linear: bound = 1 / sqrt(fan_in).
  const A = ctx.peftParam(`${path}.lora.A`, [din, r], { kind: 'uniform', bound: 1 / Math.sqrt(din) });
  const B = ctx.peftParam(`${path}.lora.B`, [r, dout], { kind: 'zeros' });
  return ctx.b.scope('lora', () => {
    let xt = ctx.dropout(x, spec.dropout).matmul(A);
    if (spec.routing !== 'none') xt = route(spec.routing, xt, visualFeature(ctx, spec.routing, path, din).matmul(A));
    return xt.matmul(B).mul(scale);
  });
}

/** W += (alpha/r) A B for every linear the insertion covers. */
function fold(spec: LoraSpec, trained: TrainedWeights, out: Record<string, Float64Array>): void {
  for (const name of Object.keys(trained)) {
    const m = /^(.*)\.lora\.A$/.exec(name);
    if (!m || !matches(spec.at, m[1])) continue;
    const W = out[`${m[1]}.W`];
    const A = trained[name];
    const B = trained[`${m[1]}.lora.B`];
    const r = spec.rank;
    const [din, dout] = [A.length / r, B.length / r];
    const s = (spec.alpha ?? r) / r;
    for (let i = 0; i < din; i++)
      for (let k = 0; k < r; k++) {
        const a = A[i * r + k] * s;
        if (a !== 0) for (let j = 0; j < dout; j++) W[i * dout + j] += a * B[k * dout + j];
      }
  }
}

export const lora = defineMethod<LoraSpec>({
  attach: 'linear',
  tag: /\.lora\./,
  output: (ctx, spec, site, x, y) => y.add(loraDelta(ctx, spec, site.path, x, site.din, site.dout)),
  merge: { folds: (spec) => spec.routing === 'none', fold },
});
