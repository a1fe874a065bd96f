/**
 * The visual prefix: what of the image tower enters the text stream (spec.visualPrefix), and
 * its optional embedding (spec.visualEmbed).
 */
import type { Tensor } from '../builder.ts';
import type { Lowering } from './context.ts';
import { normal } from './inits.ts';
import { linear } from './hooks.ts';
import { norm, type NormCfg } from './blocks.ts';
import { regionMeans, type Tower } from './vision.ts';

/** What of the image enters the text stream (spec.visualPrefix), or null. */
export function visualPrefix(ctx: Lowering, vision: Tower): Tensor | null {
  const { spec } = ctx;
  const raw = (): Tensor | null => {
    switch (spec.visualPrefix) {
      case 'none':
        return null;
      case 'pooled':
        return vision.pooled.reshape([ctx.opts.batch, 1, vision.pooled.shape[1]]);
      case 'tokens':
        return vision.hidden;
      case 'regions':
        return ctx.b.scope('vision', () => regionMeans(ctx, vision.hidden, spec.vision!, spec.visualRegions!));
    }
  };
  const prefix = raw();
  return prefix && spec.visualEmbed ? embedPrefix(ctx, prefix) : prefix;
}

/**
 * spec.visualEmbed: norm(prefix W + b) + pos[t] for prefix token t (VL-T5's visual embedding,
 * with a learned row per prefix position where VL-T5 embeds each region's box: here the boxes
 * are fixed, so a row per position is the same freedom). The norm is the text stack's kind.
 */
function embedPrefix(ctx: Lowering, prefix: Tensor): Tensor {
  const text = ctx.spec.text!;
  const [, n, dv] = prefix.shape;
  const dt = text.width;
  return ctx.b.scope('prefix', () => {
    const proj = linear(ctx, 'prefix.proj', prefix, dv, dt);
    const cfg: NormCfg = { kind: text.kind === 'encdec' ? 'rms' : 'ln', eps: text.eps };
    return norm(ctx, 'prefix.ln', proj, cfg).add(ctx.weight('prefix.pos', [n, dt], normal(0.02)));
  });
}
