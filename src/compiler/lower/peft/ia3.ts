/**
 * (IA)^3 (Liu et al. 2022): learned vectors that rescale the keys and values of attention and
 * the FFN's activations, initialized to ones. At a key or value projection the output is scaled
 * (y * l_k); at an FFN down projection its input, the activation, is scaled (act * l_ff) before
 * the weight. Merging folds the vectors into the weights: W[:, j] *= l_j (and b_j *= l_j) for an
 * output, W[i, :] *= l_i for an input.
 */
import type { Lowering } from '../context.ts';
import { defineMethod, type LinearSite, type TrainedWeights } from './method.ts';
import { matches } from '../../../dsl/paths.ts';
import type { Ia3Spec } from '../../../dsl/peft/ia3.ts';

/** FFN down projections have their input rescaled; every other linear its output. */
const scalesInput = (path: string) => /\.ffn\.down$/.test(path);

const vector = (ctx: Lowering, site: LinearSite, width: number) =>
  ctx.peftParam(`${site.path}.ia3.l`, [width], { kind: 'ones' }, { noDecay: true });

function fold(spec: Ia3Spec, trained: TrainedWeights, out: Record<string, Float64Array>): void {
  for (const name of Object.keys(trained)) {
    const m = /^(.*)\.ia3\.l$/.exec(name);
    if (!m || !matches(spec.at, m[1])) continue;
    const l = trained[name];
    const W = out[`${m[1]}.W`];
    if (scalesInput(m[1])) {
      const cols = W.length / l.length; // W [din, dout], row i scaled by l_i
      for (let i = 0; i < l.length; i++) for (let j = 0; j < cols; j++) W[i * cols + j] *= l[i];
    } else {
      const cols = l.length; // column j scaled by l_j, and the bias
      for (let i = 0; i < W.length / cols; i++) for (let j = 0; j < cols; j++) W[i * cols + j] *= l[j];
      const b = out[`${m[1]}.b`];
      if (b) for (let j = 0; j < cols; j++) b[j] *= l[j];
    }
  }
}

export const ia3 = defineMethod<Ia3Spec>({
  attach: 'linear',
  tag: /\.ia3\./,
  input: (ctx, _spec, site, x) =>
    scalesInput(site.path) ? ctx.b.scope('ia3', () => x.mul(vector(ctx, site, site.din))) : x,
  output: (ctx, _spec, site, _x, y) =>
    scalesInput(site.path) ? y : ctx.b.scope('ia3', () => y.mul(vector(ctx, site, site.dout))),
  merge: { folds: () => true, fold },
});
