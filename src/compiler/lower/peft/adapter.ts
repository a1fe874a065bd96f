/**
 * Bottleneck adapters at a sublayer output x: x + W_up(act(W_down x)). Houlsby places them after
 * attention and FFN, Pfeiffer after FFN (builders over the same method). With routing, the
 * mixing happens after the down projection and its bias, before the activation (Qu et al. 2024).
 */
import type { Tensor } from '../../builder.ts';
import type { Lowering } from '../context.ts';
import { xavier } from '../inits.ts';
import { route, visualFeature } from './routing.ts';
import { defineMethod } from './method.ts';
import { SpecError } from '../../../dsl/parse.ts';
import type { AdapterActivation, AdapterSpec } from '../../../dsl/peft/adapter.ts';

export function bottleneckWidth(
  spec: { reduction?: number; bottleneck?: number },
  d: number,
  path: string,
  fallbackReduction: number,
): number {
  if (spec.bottleneck) return spec.bottleneck;
  const red = spec.reduction ?? fallbackReduction;
  if (d % red !== 0)
    throw new SpecError(
      `insertion at '${path}': width ${d} is not divisible by reduction ${red}; set 'bottleneck' or a reduction among the divisors of ${d}`,
    );
  return d / red;
}

export function act(x: Tensor, kind: AdapterActivation): Tensor {
  return kind === 'gelu' ? x.gelu() : x.relu();
}

export function adapter(ctx: Lowering, spec: AdapterSpec, path: string, x: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  const r = bottleneckWidth(spec, d, path, 16);
  const name = `${path}.adapter`;
  const Wd = ctx.peftParam(`${name}.down.W`, [d, r], xavier(1, d, r));
  const bd = ctx.peftParam(`${name}.down.b`, [r], { kind: 'zeros' }, { noDecay: true });
  const Wu = ctx.peftParam(`${name}.up.W`, [r, d], { kind: 'zeros' });
  const bu = ctx.peftParam(`${name}.up.b`, [d], { kind: 'zeros' }, { noDecay: true });
  return ctx.b.scope('adapter', () => {
    let z = x.matmul(Wd).add(bd);
    if (spec.routing !== 'none')
      z = route(spec.routing, z, visualFeature(ctx, spec.routing, path, d).matmul(Wd).add(bd));
    return x.add(act(z, spec.activation).matmul(Wu).add(bu));
  });
}

export const adapterMethod = defineMethod<AdapterSpec>({
  attach: 'sublayer',
  tag: /\.adapter\./,
  sublayer: (ctx, spec, path, x) => adapter(ctx, spec, path, x),
});
