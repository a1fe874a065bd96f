/**
 * Bottleneck adapters at a sublayer output x: x + W_up(act(W_down x)). Houlsby places them after
 * attention and FFN, Pfeiffer after FFN (both by their `at` globs). With routing, the mixing
 * happens after the down projection and its bias, before the activation (Qu et al. 2024).
 * Compacter is the same module with PHM projections and the shared S.
 */
import { SpecError } from '../../../dsl/spec.ts';
import type { Tensor } from '../../builder.ts';
import { type Lowering, xavier } from '../context.ts';
import type { PeftSpec } from '../../../dsl/spec.ts';
import { route, visualFeature } from './routing.ts';
import { phmApply, phmFactors, sharedS } from './phm.ts';

type AdapterSpec = Extract<PeftSpec, { method: 'adapter' }>;
type CompacterSpec = Extract<PeftSpec, { method: 'compacter' }>;

export function bottleneckWidth(spec: { reduction?: number; bottleneck?: number }, d: number, path: string, fallbackReduction: number): number {
  if (spec.bottleneck) return spec.bottleneck;
  const red = spec.reduction ?? fallbackReduction;
  if (d % red !== 0) throw new SpecError(`insertion at '${path}': width ${d} is not divisible by reduction ${red}; set 'bottleneck' or a reduction among the divisors of ${d}`);
  return d / red;
}

function act(x: Tensor, kind: 'gelu' | 'relu'): Tensor {
  return kind === 'gelu' ? x.gelu() : x.relu();
}

export function adapter(ctx: Lowering, spec: AdapterSpec, path: string, x: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  const r = bottleneckWidth(spec, d, path, 16);
  const name = `${path}.adapter`;
  const Wd = ctx.peftParam(`${name}.down.W`, [d, r], xavier(1, d, r));
  const bd = ctx.peftParam(`${name}.down.b`, [r], { kind: 'zeros' }, true);
  const Wu = ctx.peftParam(`${name}.up.W`, [r, d], { kind: 'zeros' });
  const bu = ctx.peftParam(`${name}.up.b`, [d], { kind: 'zeros' }, true);
  return ctx.b.scope('adapter', () => {
    let z = x.matmul(Wd).add(bd);
    if (spec.routing !== 'none') {
      const xv = visualFeature(ctx, spec.routing, path).matmul(Wd).add(bd);
      z = route(spec.routing, z, xv);
    }
    return x.add(act(z, spec.activation).matmul(Wu).add(bu));
  });
}

export function compacter(ctx: Lowering, spec: CompacterSpec, path: string, x: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  const r = bottleneckWidth(spec, d, path, 16);
  const n = spec.kron;
  const S = sharedS(ctx, 'compacter', spec.shareS, path, n);
  const down = { n, k: spec.rank, din: d, dout: r };
  const up = { n, k: spec.rank, din: r, dout: d };
  const fd = phmFactors(ctx, `${path}.compacter.down`, down);
  const fu = phmFactors(ctx, `${path}.compacter.up`, up);
  return ctx.b.scope('compacter', () => x.add(phmApply(ctx.b, act(phmApply(ctx.b, x, S, fd, down), spec.activation), S, fu, up)));
}
