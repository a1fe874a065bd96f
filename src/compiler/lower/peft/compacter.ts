/** Compacter: the bottleneck adapter with PHM projections and the shared S (Mahabadi et al. 2021). */
import type { Tensor } from '../../builder.ts';
import type { Lowering } from '../context.ts';
import { phmApply, phmFactors, sharedS } from './phm.ts';
import { act, bottleneckWidth } from './adapter.ts';
import { defineMethod } from './method.ts';
import type { CompacterSpec } from '../../../dsl/peft/compacter.ts';

export function compacter(ctx: Lowering, spec: CompacterSpec, path: string, x: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  const r = bottleneckWidth(spec, d, path, 16);
  const n = spec.kron;
  const S = sharedS(ctx, 'compacter', spec.shareS, path, n);
  const down = { n, k: spec.rank, din: d, dout: r };
  const up = { n, k: spec.rank, din: r, dout: d };
  const fd = phmFactors(ctx, `${path}.compacter.down`, down);
  const fu = phmFactors(ctx, `${path}.compacter.up`, up);
  return ctx.b.scope('compacter', () =>
    x.add(phmApply(ctx.b, act(phmApply(ctx.b, x, S, fd, down), spec.activation), S, fu, up)),
  );
}

export const compacterMethod = defineMethod<CompacterSpec>({
  attach: 'sublayer',
  tag: /(^|\.)compacter\./,
  sublayer: (ctx, spec, path, x) => compacter(ctx, spec, path, x),
});
