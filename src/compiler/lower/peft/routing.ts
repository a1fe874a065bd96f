/**
 * Routing functions (Qu, Tuytelaars & Moens, ECCV 2024): parameter-free mixing of the text
 * stream x_t [B, L, r] with the visual feature x_v [B, 1, r] inside a low-rank bottleneck.
 */
import type { Tensor } from '../../builder.ts';
import { SpecError } from '../../../dsl/parse.ts';
import type { Routing } from '../../../dsl/peft/parts.ts';
import type { Lowering } from '../context.ts';

/**
 * The visual feature x_R [B, 1, d] routing mixes in (ctx.visual: the pooled feature, or its
 * embedding as the prefix token when the spec embeds the visual prefix); it exists only after
 * the vision tower, and must have the width `d` of the text stream it is routed into.
 */
export function visualFeature(ctx: Lowering, kind: Routing, path: string, d: number): Tensor {
  if (!ctx.visual)
    throw new SpecError(
      `routing '${kind}' at '${path}': the pooled visual feature it mixes in exists only after the vision tower; route text-tower points (or set routing 'none' here)`,
    );
  const [B, dv] = ctx.visual.shape;
  if (dv !== d)
    throw new SpecError(
      `routing '${kind}' at '${path}': the visual feature is ${dv} wide and the text stream ${d}; routing needs one width (METHODS.md: no extra projection), so use towers of equal width, or visualPrefix 'pooled' with visualEmbed: true to route the projected prefix token`,
    );
  return ctx.visual.reshape([B, 1, dv]);
}

export function route(kind: Routing, xt: Tensor, xv: Tensor): Tensor {
  const last = xt.rank - 1;
  switch (kind) {
    case 'none':
      return xt;
    case 'add':
      return xt.add(xv);
    case 'mul':
      return xt.mul(xv);
    case 'mulExpand': // x_t X_v with X_v = x_v repeated to r x r: (sum_j x_t[j]) x_v
      return xt.sum([last], true).mul(xv);
    case 'inner': // x_t x_v^T x_v: <x_t, x_v> x_v
      return xt.mul(xv).sum([last], true).mul(xv);
  }
}
