/**
 * The two insertion hooks the backbones call, a linear layer and a sublayer output; each runs
 * every inserted method whose `at` matches the point, through the method registry (a merged
 * inference graph skips the insertions merging folds into the weights).
 */
import type { Tensor } from '../builder.ts';
import type { Lowering } from './context.ts';
import { xavier } from './inits.ts';
import { methodFor } from './peft/registry.ts';

/**
 * y = x W (+ b) at `path`, rewritten by every method attached there (LoRA, (IA)^3, DoRA). The
 * weight and bias are declared first, so every hook sees them (site.W, site.b); input hooks run
 * in insertion order, each on the input the one before left, and output hooks see that final
 * input: y = x' W + b is the layer they rewrite.
 */
export function linear(
  ctx: Lowering,
  path: string,
  x: Tensor,
  din: number,
  dout: number,
  opts: { bias?: boolean } = {},
): Tensor {
  ctx.points.linear.add(path);
  const active = ctx
    .insertionsAt('linear', path)
    .filter((spec) => !(ctx.opts.merged && methodFor(spec).merge?.folds(spec)));
  return ctx.b.at(path, () => {
    const W = ctx.weight(`${path}.W`, [din, dout], xavier(1, din, dout));
    const b = opts.bias !== false ? ctx.bias(`${path}.b`, [dout]) : null;
    const site = { path, din, dout, W, b };
    let xin = x;
    for (const spec of active) {
      const m = methodFor(spec);
      if (m.attach === 'linear' && m.input) xin = m.input(ctx, spec, site, xin);
    }
    let y = xin.matmul(W);
    if (b) y = y.add(b);
    for (const spec of active) {
      const m = methodFor(spec);
      if (m.attach === 'linear' && m.output) y = m.output(ctx, spec, site, xin, y);
    }
    return y;
  });
}

/** A sublayer's output before its residual add, rewritten by the modules attached there. */
export function sublayer(ctx: Lowering, path: string, x: Tensor, stack: string): Tensor {
  ctx.points.sublayer.add(path);
  let y = x;
  for (const spec of ctx.insertionsAt('sublayer', path)) {
    const m = methodFor(spec);
    if (m.attach === 'sublayer') y = ctx.b.at(path, () => m.sublayer(ctx, spec, path, y, stack));
  }
  return y;
}
