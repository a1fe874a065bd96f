/**
 * The vision tower (ViT; CLIP's vision tower by options): patch embedding as a matmul over
 * flattened (channel, row, column) patches, a class token, learned positions, pre-LN blocks.
 * pool 'tanh' (HF ViT): final LN over the sequence, pooled = tanh(dense(CLS)).
 * pool 'ln' (CLIP): an LN on the embeddings first, no final LN, pooled = LN(CLS).
 * pool 'mean': final LN over the sequence, pooled = mean of the patch states.
 */
import type { Tensor } from '../builder.ts';
import type { Lowering } from './context.ts';
import { normal } from './inits.ts';
import { linear } from './hooks.ts';
import { block, norm, token, type BlockCfg } from './blocks.ts';
import { ffnWidth, SpecError, type ModelSpec } from '../../dsl/spec.ts';

export interface Tower {
  /** Final hidden states [B, L, d]. */
  hidden: Tensor;
  /** One vector per example [B, d]. */
  pooled: Tensor;
  mask: Tensor | null;
}

export function vitTower(ctx: Lowering, spec: NonNullable<ModelSpec['vision']>): Tower {
  const B = ctx.opts.batch;
  const {
    image: [H, W],
    channels: C,
    patch: P,
    width: d,
    depth,
    heads,
  } = spec;
  if (H % P || W % P) throw new SpecError(`vision: image ${H}x${W} is not divisible into ${P}x${P} patches`);
  if (d % heads) throw new SpecError(`vision: width ${d} is not divisible by ${heads} heads`);
  const [gh, gw] = [H / P, W / P];
  const img = ctx.b.input('image', [B, C, H, W]);
  const ln = { kind: 'ln' as const, eps: spec.eps };
  const cfg: BlockCfg = {
    heads,
    headDim: d / heads,
    mlp: ffnWidth(spec),
    act: spec.act,
    gated: false,
    bias: true,
    norm: ln,
    placement: 'pre',
    scaled: true,
  };
  return ctx.b.scope('vision', () => {
    // Row-major patches with (c, y, x) inside each: the layout of a flattened conv kernel.
    const patches = img
      .reshape([B, C, gh, P, gw, P])
      .permute([0, 2, 4, 1, 3, 5])
      .reshape([B, gh * gw, C * P * P]);
    const emb = linear(ctx, 'vision.patch', patches, C * P * P, d, { bias: spec.patchBias });
    const cls = ctx.weight('vision.cls', [1, 1, d], normal(0.02)).broadcastTo([B, 1, d]);
    let h = ctx.b.concat([cls, emb], 1).add(ctx.weight('vision.pos', [gh * gw + 1, d], normal(0.02)));
    if (spec.embedNorm) h = norm(ctx, 'vision.ln_pre', h, ln);
    for (let i = 0; i < depth; i++) h = block(ctx, 'vision', i, h, cfg, { mask: null, causal: false, bias: null });
    let pooled: Tensor;
    if (spec.pool === 'ln') pooled = norm(ctx, 'vision.ln_f', token(ctx, h, 0), ln);
    else {
      h = norm(ctx, 'vision.ln_f', h, ln);
      // 'mean': the whole patch grid as one region.
      pooled =
        spec.pool === 'tanh'
          ? linear(ctx, 'vision.pooler', token(ctx, h, 0), d, d).tanh()
          : regionMeans(ctx, h, spec, [1, 1]).reshape([B, d]);
    }
    ctx.finals.set('vision', { hidden: h, mask: null });
    return { hidden: h, pooled, mask: null };
  });
}

/** What fixes a ViT's patch grid. */
export type PatchGrid = Pick<NonNullable<ModelSpec['vision']>, 'image' | 'patch'>;

/**
 * The mean final state of each region of a ViT's patch grid: hidden [B, 1 + gh*gw, d] (CLS
 * first), its gh x gw patches (image / patch) cut into grid[0] x grid[1] regions, row-major:
 * [B, R, d]. Region features for a dense head or a visual prefix (as VL-T5 reads region features).
 */
export function regionMeans(ctx: Lowering, hidden: Tensor, vit: PatchGrid, grid: [number, number]): Tensor {
  const [B, , d] = hidden.shape;
  const [gh, gw] = [vit.image[0] / vit.patch, vit.image[1] / vit.patch];
  const [rh, rw] = [gh / grid[0], gw / grid[1]];
  const tokens = ctx.b.slice(hidden, [0, 1, 0], [B, 1 + gh * gw, d]).reshape([B, grid[0], rh, grid[1], rw, d]);
  return ctx.b
    .permute(tokens, [0, 1, 3, 2, 4, 5])
    .reshape([B, grid[0] * grid[1], rh * rw, d])
    .mean([2]);
}
