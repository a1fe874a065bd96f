/**
 * MixPHM (Jiang & Zheng, CVPR 2023): x + alpha * W_up_e(drop_p(gelu(W_down x))), with PHM
 * projections, the model-wide shared S, one down projection shared by the module's experts,
 * per-expert up projections, a uniformly random expert per module and forward pass in
 * training, and experts merged factor by factor at inference.
 * AdaMix is the same mixture with plain (non-PHM) projections and no sharing: both down and
 * up projections have experts.
 */
import type { Tensor } from '../../builder.ts';
import { type Lowering, xavier } from '../context.ts';
import type { PeftSpec } from '../../../dsl/spec.ts';
import { bottleneckWidth } from './adapter.ts';
import { phmApply, phmFactors, sharedS } from './phm.ts';
import { pickExpert } from './experts.ts';

type MixPhmSpec = Extract<PeftSpec, { method: 'mixphm' }>;
type AdaMixSpec = Extract<PeftSpec, { method: 'adamix' }>;

/** Lead axes of the stored factors: [E] when experts are kept, none in a merged graph. */
function expertAxes(ctx: Lowering, experts: number): number[] {
  return ctx.opts.merged ? [] : [experts];
}

function select(ctx: Lowering, f: Record<string, Tensor>, experts: number): Record<string, Tensor> {
  return ctx.opts.merged ? f : pickExpert(ctx, f, experts);
}

export function mixphm(ctx: Lowering, spec: MixPhmSpec, path: string, x: Tensor, stack: string): Tensor {
  const d = x.shape[x.rank - 1];
  const r = bottleneckWidth(spec, d, path, 12);
  const n = spec.kron;
  const E = spec.experts;
  const S = sharedS(ctx, 'mixphm', spec.shareS, path, n);
  const down = { n, k: spec.rank, din: d, dout: r };
  const up = { n, k: spec.rank, din: r, dout: d };
  const fdAll = spec.shareDown === 'module' ? phmFactors(ctx, `${path}.mixphm.down`, down) : phmFactors(ctx, `${path}.mixphm.down`, down, expertAxes(ctx, E));
  const fuAll = phmFactors(ctx, `${path}.mixphm.up`, up, expertAxes(ctx, E));
  return ctx.b.scope('mixphm', () => {
    const fd = spec.shareDown === 'module' ? fdAll : (select(ctx, fdAll, E) as typeof fdAll);
    const fu = select(ctx, fuAll, E) as typeof fuAll;
    const z = ctx.dropout(phmApply(ctx.b, x, S, fd, down).gelu(), spec.dropout);
    const ha = phmApply(ctx.b, z, S, fu, up).mul(spec.alpha);
    ctx.modules.push({ stack, path, h: x, ha });
    return x.add(ha);
  });
}

export function adamix(ctx: Lowering, spec: AdaMixSpec, path: string, x: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  const r = bottleneckWidth(spec, d, path, 16);
  const E = spec.experts;
  const lead = expertAxes(ctx, E);
  const name = `${path}.adamix`;
  const downAll = { W: ctx.peftParam(`${name}.down.W`, [...lead, d, r], xavier(1, d, r)), b: ctx.peftParam(`${name}.down.b`, [...lead, r], { kind: 'zeros' }, true) };
  const upAll = { W: ctx.peftParam(`${name}.up.W`, [...lead, r, d], { kind: 'zeros' }), b: ctx.peftParam(`${name}.up.b`, [...lead, d], { kind: 'zeros' }, true) };
  return ctx.b.scope('adamix', () => {
    // Down and up experts are drawn independently.
    const dn = select(ctx, downAll, E);
    const upp = select(ctx, upAll, E);
    const z = ctx.dropout(x.matmul(dn.W).add(dn.b).gelu(), spec.dropout);
    return x.add(z.matmul(upp.W).add(upp.b));
  });
}
