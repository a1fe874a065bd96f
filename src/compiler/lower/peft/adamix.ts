/**
 * AdaMix-style mixture of adapters: MixPHM without PHM and without sharing: both down and up
 * projections have experts, drawn independently per forward pass, averaged at inference.
 */
import { z } from 'zod';
import type { Tensor } from '../../builder.ts';
import { type Lowering, xavier } from '../context.ts';
import { bottleneckWidth } from './adapter.ts';
import { expertAxes, expertInit, selectExpert } from './experts.ts';
import { at, count, dropoutRate, pos, type In } from './parts.ts';
import { defineMethod } from './method.ts';
import { parsePart } from '../../../dsl/parse.ts';
import type { SublayerPath } from '../../../dsl/paths.ts';

export const AdaMixSpec = z.strictObject({
  method: z.literal('adamix'),
  at,
  experts: count.default(4),
  reduction: pos.optional(),
  bottleneck: pos.optional(),
  dropout: dropoutRate(0),
});
type AdaMixSpec = z.infer<typeof AdaMixSpec>;

export function adamix(ctx: Lowering, spec: AdaMixSpec, path: string, x: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  const r = bottleneckWidth(spec, d, path, 16);
  const E = spec.experts;
  const lead = expertAxes(ctx, E);
  const name = `${path}.adamix`;
  const downAll = { W: ctx.peftParam(`${name}.down.W`, [...lead, d, r], expertInit(lead, xavier(1, d, r))), b: ctx.peftParam(`${name}.down.b`, [...lead, r], { kind: 'zeros' }, true) };
  const upAll = { W: ctx.peftParam(`${name}.up.W`, [...lead, r, d], { kind: 'zeros' }), b: ctx.peftParam(`${name}.up.b`, [...lead, d], { kind: 'zeros' }, true) };
  return ctx.b.scope('adamix', () => {
    const dn = selectExpert(ctx, downAll, E);
    const upp = selectExpert(ctx, upAll, E);
    const z = ctx.dropout(x.matmul(dn.W).add(dn.b).gelu(), spec.dropout);
    return x.add(z.matmul(upp.W).add(upp.b));
  });
}

export const adamixMethod = defineMethod<AdaMixSpec>({
  schema: AdaMixSpec,
  attach: 'sublayer',
  tag: /(^|\.)adamix\./,
  sublayer: (ctx, spec, path, x) => adamix(ctx, spec, path, x),
});

export const adamixBuilders = {
  adamix: (o: Omit<In<typeof AdaMixSpec>, 'at'> & { at: SublayerPath | SublayerPath[] }) => parsePart(AdaMixSpec, { method: 'adamix', ...o }, 'adamix'),
};
