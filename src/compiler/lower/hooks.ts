/** The two insertion hooks the backbones call: a linear layer and a sublayer output. */
import type { Tensor } from '../builder.ts';
import { type Lowering, xavier } from './context.ts';
import { foldable, loraDelta } from './peft/lora.ts';
import { adapter, compacter } from './peft/adapter.ts';
import { adamix, mixphm } from './peft/mixphm.ts';

/** y = x W (+ b) at `path`, plus every LoRA whose glob matches it. */
export function linear(ctx: Lowering, path: string, x: Tensor, din: number, dout: number, opts: { bias?: boolean } = {}): Tensor {
  ctx.points.linear.add(path);
  return ctx.b.scope(path, () => {
    let y = x.matmul(ctx.weight(`${path}.W`, [din, dout], xavier(1, din, dout)));
    if (opts.bias !== false) y = y.add(ctx.bias(`${path}.b`, [dout]));
    for (const spec of ctx.insertionsAt('linear', path)) {
      if (spec.method !== 'lora') continue;
      if (ctx.opts.merged && foldable(spec)) continue; // folded into W0 by mergeWeights
      y = y.add(loraDelta(ctx, spec, path, x, din, dout));
    }
    return y;
  });
}

/** A sublayer's output before its residual add, rewritten by the modules attached there. */
export function sublayer(ctx: Lowering, path: string, x: Tensor, stack: string): Tensor {
  ctx.points.sublayer.add(path);
  let y = x;
  for (const spec of ctx.insertionsAt('sublayer', path)) {
    y = ctx.b.scope(path, () => {
      switch (spec.method) {
        case 'adapter':
          return adapter(ctx, spec, path, y);
        case 'compacter':
          return compacter(ctx, spec, path, y);
        case 'mixphm':
          return mixphm(ctx, spec, path, y, stack);
        case 'adamix':
          return adamix(ctx, spec, path, y);
        default:
          return y;
      }
    });
  }
  return y;
}
