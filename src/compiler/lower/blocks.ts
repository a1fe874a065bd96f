/**
 * The transformer building blocks every backbone family is assembled from. Families differ
 * only in the options here (norm kind and placement, activation, gating, biases, attention
 * scaling, position bias), never in forked code: ViT, CLIP, BERT, RoBERTa, GPT-2, T5 and
 * peftgraph's own stacks all run `block`. Every linear goes through the `linear` hook and
 * every sublayer output through the `sublayer` hook, which is where PEFT methods attach.
 */
import type { Tensor } from '../builder.ts';
import { attention, layerNorm, rmsNorm, type AttentionArgs } from '../composites.ts';
import type { Lowering } from './context.ts';
import { linear, sublayer } from './hooks.ts';
import type { Activation } from '../../dsl/spec.ts';

export interface NormCfg {
  /** 'ln': mean-centred layer norm with scale and shift; 'rms': T5's scale-only RMS norm. */
  kind: 'ln' | 'rms';
  eps: number;
}

export interface BlockCfg {
  heads: number;
  /** Per-head width; q, k, v project width -> heads * headDim. */
  headDim: number;
  /** FFN hidden width. */
  mlp: number;
  act: Activation;
  /** act(x W_gate) * (x W_up) (T5 v1.1) instead of act(x W_up). */
  gated: boolean;
  bias: boolean;
  norm: NormCfg;
  /** 'pre': h + f(norm h) (ViT, GPT-2, T5, CLIP). 'post': norm(h + f(h)) (BERT, RoBERTa). */
  placement: 'pre' | 'post';
  /** Scores scaled by 1/sqrt(headDim) (false for T5). */
  scaled: boolean;
}

/** What one attention sublayer attends over. */
export interface AttnInputs {
  /** Key mask [B, Lk] (1 keep, 0 drop), or null. */
  mask: Tensor | null;
  causal: boolean;
  /** Additive score bias broadcast to [B, H, Lq, Lk] (T5 relative positions), or null. */
  bias: Tensor | null;
  /** The KV cache's hook on the keys and values by head (kv-cache.ts), or none. */
  kv?: AttentionArgs['kv'];
  /** Keys and values by head [B, H, Lk, dh] already computed (a decoding step's cached cross-attention): no k and v projections. */
  cached?: { k: Tensor; v: Tensor };
}

export function norm(ctx: Lowering, name: string, x: Tensor, cfg: NormCfg): Tensor {
  const d = x.shape[x.rank - 1];
  const g = ctx.normScale(`${name}.g`, [d]);
  if (cfg.kind === 'ln') return layerNorm(ctx.b, x, g, ctx.bias(`${name}.b`, [d]), cfg.eps);
  return rmsNorm(ctx.b, x, g, cfg.eps);
}

/** The activation by its HF meaning: 'gelu' is the exact (erf) form, 'gelu_tanh' HF's gelu_new. */
export function activation(ctx: Lowering, x: Tensor, act: Activation): Tensor {
  switch (act) {
    case 'gelu':
      return x.mul(0.5).mul(ctx.b.unary('erf', x.mul(Math.SQRT1_2)).add(1));
    case 'gelu_tanh':
      return x.gelu();
    case 'quick_gelu':
      return x.mul(x.mul(1.702).sigmoid());
    case 'relu':
      return x.relu();
  }
}

function attend(ctx: Lowering, path: string, xq: Tensor, xkv: Tensor, cfg: BlockCfg, a: AttnInputs): Tensor {
  const d = xq.shape[2];
  const inner = cfg.heads * cfg.headDim;
  const proj = (name: string, x: Tensor) => linear(ctx, `${path}.${name}`, x, d, inner, { bias: cfg.bias });
  const q = proj('q', xq);
  const cached = a.cached;
  const out = attention(ctx.b, {
    q,
    // Cached keys and values replace the projections (q stands in for them, unused).
    k: cached ? q : proj('k', xkv),
    v: cached ? q : proj('v', xkv),
    heads: cfg.heads,
    keyMask: a.mask ?? undefined,
    causal: a.causal,
    scale: cfg.scaled ? undefined : 1,
    bias: a.bias ?? undefined,
    kv: cached ? () => cached : a.kv,
  });
  return linear(ctx, `${path}.o`, out, inner, d, { bias: cfg.bias });
}

function ffn(ctx: Lowering, p: string, x: Tensor, cfg: BlockCfg): Tensor {
  const d = x.shape[x.rank - 1];
  const lin = (name: string, y: Tensor, din: number, dout: number) =>
    linear(ctx, `${p}.ffn.${name}`, y, din, dout, { bias: cfg.bias });
  const u = cfg.gated
    ? activation(ctx, lin('gate', x, d, cfg.mlp), cfg.act).mul(lin('up', x, d, cfg.mlp))
    : activation(ctx, lin('up', x, d, cfg.mlp), cfg.act);
  return lin('down', u, cfg.mlp, d);
}

/**
 * One residual sublayer: `f` computes the sublayer from its (pre-normed or raw) input; the
 * `sublayer` hook rewrites its output before the residual add.
 */
function residual(
  ctx: Lowering,
  stack: string,
  path: string,
  normName: string,
  h: Tensor,
  cfg: BlockCfg,
  f: (x: Tensor) => Tensor,
): Tensor {
  const drop = (x: Tensor) => ctx.dropout(x, ctx.spec.dropout);
  return ctx.b.at(path, () => {
    if (cfg.placement === 'pre') return h.add(drop(sublayer(ctx, path, f(norm(ctx, normName, h, cfg.norm)), stack)));
    return norm(ctx, normName, h.add(drop(sublayer(ctx, path, f(h), stack))), cfg.norm);
  });
}

/**
 * Block `i` of `stack`: self-attention, optional cross-attention over `cross.memory`, FFN.
 * Params: {stack}.layers.{i}.{attn,cross}.{q,k,v,o}, .ffn.{gate,up,down}, .{ln1,lnx,ln2}.
 */
export function block(
  ctx: Lowering,
  stack: string,
  i: number,
  h: Tensor,
  cfg: BlockCfg,
  self: AttnInputs,
  cross?: { memory: Tensor } & AttnInputs,
): Tensor {
  const p = `${stack}.layers.${i}`;
  h = residual(ctx, stack, `${p}.attn`, `${p}.ln1`, h, cfg, (x) => attend(ctx, `${p}.attn`, x, x, cfg, self));
  if (cross)
    h = residual(ctx, stack, `${p}.cross`, `${p}.lnx`, h, cfg, (x) =>
      attend(ctx, `${p}.cross`, x, cross.memory, cfg, cross),
    );
  return residual(ctx, stack, `${p}.ffn`, `${p}.ln2`, h, cfg, (x) => ffn(ctx, p, x, cfg));
}

/** Token `t` of [B, L, d] as [B, d]. */
export function token(ctx: Lowering, h: Tensor, t: number): Tensor {
  const [B, , d] = h.shape;
  return ctx.b.slice(h, [0, t, 0], [B, t + 1, d]).reshape([B, d]);
}

/** Mask-weighted mean over tokens: [B, L, d] -> [B, d]. */
export function maskedMean(x: Tensor, mask: Tensor | null): Tensor {
  if (!mask) return x.mean([1]);
  const [B, L] = mask.shape;
  const m = mask.reshape([B, L, 1]);
  return x
    .mul(m)
    .sum([1])
    .div(m.sum([1]));
}
