/**
 * LoRA: W0 x + (alpha/r) B A x, A Kaiming-uniform, B zeros. With a routing function the
 * low-rank path becomes (alpha/r) W_up f(W_down x_H, W_down x_R) (Qu et al. 2024).
 */
import type { Tensor } from '../../builder.ts';
import type { Lowering } from '../context.ts';
import type { PeftSpec } from '../../../dsl/spec.ts';
import { route, visualFeature } from './routing.ts';

type LoraSpec = Extract<PeftSpec, { method: 'lora' }>;

/** Whether inference merging can fold this LoRA into W0 (not with routing: it depends on the image). */
export function foldable(spec: LoraSpec): boolean {
  return spec.routing === 'none';
}

export function loraDelta(ctx: Lowering, spec: LoraSpec, path: string, x: Tensor, din: number, dout: number): Tensor {
  const r = spec.rank;
  const scale = (spec.alpha ?? r) / r;
  // Kaiming-uniform with a = sqrt(5), as nn.Linear: bound = 1 / sqrt(fan_in).
  const A = ctx.peftParam(`${path}.lora.A`, [din, r], { kind: 'uniform', bound: 1 / Math.sqrt(din) });
  const B = ctx.peftParam(`${path}.lora.B`, [r, dout], { kind: 'zeros' });
  return ctx.b.scope('lora', () => {
    let xt = ctx.dropout(x, spec.dropout).matmul(A);
    if (spec.routing !== 'none') {
      const xv = visualFeature(ctx, spec.routing, path).matmul(A);
      xt = route(spec.routing, xt, xv);
    }
    return xt.matmul(B).mul(scale);
  });
}
