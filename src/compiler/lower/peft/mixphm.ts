/**
 * MixPHM (Jiang & Zheng, CVPR 2023): x + alpha * W_up_e(drop_p(gelu(W_down x))), with PHM
 * projections, the model-wide shared S, one down projection shared by the module's experts,
 * per-expert up projections, a uniformly random expert per module and forward pass in
 * training, and experts merged factor by factor at inference (experts.ts, merge.ts).
 */
import type { Tensor } from '../../builder.ts';
import type { Lowering } from '../context.ts';
import { bottleneckWidth } from './adapter.ts';
import { phmApply, phmFactors, sharedS } from './phm.ts';
import { expertAxes, selectExpert } from './experts.ts';
import { defineMethod } from './method.ts';
import type { MixPhmSpec } from '../../../dsl/peft/mixphm.ts';

export function mixphm(ctx: Lowering, spec: MixPhmSpec, path: string, x: Tensor, stack: string): Tensor {
  const d = x.shape[x.rank - 1];
  const r = bottleneckWidth(spec, d, path, 12);
  const n = spec.kron;
  const E = spec.experts;
  const S = sharedS(ctx, 'mixphm', spec.shareS, path, n);
  const down = { n, k: spec.rank, din: d, dout: r };
  const up = { n, k: spec.rank, din: r, dout: d };
  const fdAll =
    spec.shareDown === 'module'
      ? phmFactors(ctx, `${path}.mixphm.down`, down)
      : phmFactors(ctx, `${path}.mixphm.down`, down, expertAxes(ctx, E));
  const fuAll = phmFactors(ctx, `${path}.mixphm.up`, up, expertAxes(ctx, E));
  return ctx.b.scope('mixphm', () => {
    const fd = spec.shareDown === 'module' ? fdAll : (selectExpert(ctx, fdAll, E) as typeof fdAll);
    const fu = selectExpert(ctx, fuAll, E) as typeof fuAll;
    const z = ctx.dropout(phmApply(ctx.b, x, S, fd, down).gelu(), spec.dropout);
    const ha = phmApply(ctx.b, z, S, fu, up).mul(spec.alpha);
    ctx.modules.push({ stack, path, h: x, ha });
    return x.add(ha);
  });
}

export const mixphmMethod = defineMethod<MixPhmSpec>({
  attach: 'sublayer',
  tag: /(^|\.)mixphm\./,
  sublayer: (ctx, spec, path, x, stack) => mixphm(ctx, spec, path, x, stack),
});
