/**
 * AdaMix-style mixture of adapters: MixPHM without PHM and without sharing: both down and up
 * projections have experts, drawn independently per forward pass, averaged at inference.
 */
import type { Tensor } from '../../builder.ts';
import type { Lowering } from '../context.ts';
import { xavier } from '../inits.ts';
import { bottleneckWidth } from './adapter.ts';
import { expertAxes, expertInit, selectExpert } from './experts.ts';
import { defineMethod } from './method.ts';
import type { AdaMixSpec } from '../../../dsl/peft/adamix.ts';

export function adamix(ctx: Lowering, spec: AdaMixSpec, path: string, x: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  const r = bottleneckWidth(spec, d, path, 16);
  const E = spec.experts;
  const lead = expertAxes(ctx, E);
  const name = `${path}.adamix`;
  const downAll = {
    W: ctx.peftParam(`${name}.down.W`, [...lead, d, r], expertInit(lead, xavier(1, d, r))),
    b: ctx.peftParam(`${name}.down.b`, [...lead, r], { kind: 'zeros' }, { noDecay: true }),
  };
  const upAll = {
    W: ctx.peftParam(`${name}.up.W`, [...lead, r, d], { kind: 'zeros' }),
    b: ctx.peftParam(`${name}.up.b`, [...lead, d], { kind: 'zeros' }, { noDecay: true }),
  };
  return ctx.b.scope('adamix', () => {
    const dn = selectExpert(ctx, downAll, E);
    const upp = selectExpert(ctx, upAll, E);
    const z = ctx.dropout(x.matmul(dn.W).add(dn.b).gelu(), spec.dropout);
    return x.add(z.matmul(upp.W).add(upp.b));
  });
}

export const adamixMethod = defineMethod<AdaMixSpec>({
  attach: 'sublayer',
  tag: /(^|\.)adamix\./,
  sublayer: (ctx, spec, path, x) => adamix(ctx, spec, path, x),
});
