/**
 * The T5 encoder-decoder: one embedding table for both stacks, pre-RMS-norm blocks without
 * biases, unscaled attention with a relative position bias (one [buckets, heads] table per
 * stack, owned by layer 0 and added in every layer), ReLU or gated-GELU FFNs, final RMS norms,
 * and an LM head tied to the embeddings (inputs scaled by width^-1/2) or its own weight.
 * A visual prefix joins the encoder input after the token embeddings (VL-T5 style).
 */
import type { Tensor } from '../builder.ts';
import type { Lowering } from './context.ts';
import { normal } from './inits.ts';
import { block, norm, token, type BlockCfg } from './blocks.ts';
import { prependPrefix } from './text.ts';
import { KV_INPUTS, kvCross, prefillCrossHook, prefillHook, stepHook, stepPosition, stepVisual } from './kv-cache.ts';
import type { Tower } from './vision.ts';
import { SpecError, type ModelSpec } from '../../dsl/spec.ts';

type EncDecSpec = Extract<NonNullable<ModelSpec['text']>, { kind: 'encdec' }>;

/**
 * T5's bucket for relative position `rel` = key - query. Exact offsets below half the range,
 * log-spaced bins up to maxDistance above. The log-bin arithmetic is float32 in the reference
 * (torch), so it is rounded to float32 step by step here: bins that land exactly on an integer
 * (e.g. distance 16, 32, 64 with 32 buckets) depend on it.
 */
export function relativeBucket(rel: number, bidirectional: boolean, buckets: number, maxDistance: number): number {
  let nb = buckets;
  let out = 0;
  let n: number;
  if (bidirectional) {
    nb = Math.floor(nb / 2);
    if (rel > 0) out += nb;
    n = Math.abs(rel);
  } else n = Math.max(-rel, 0);
  const maxExact = Math.floor(nb / 2);
  if (n < maxExact) return out + n;
  const f = Math.fround;
  const logRatio = f(Math.log(f(n / maxExact)));
  const large = maxExact + Math.trunc(f(f(logRatio / f(Math.log(maxDistance / maxExact))) * (nb - maxExact)));
  return out + Math.min(large, nb - 1);
}

/** The stack's position bias [1, heads, Lq, Lk] from its layer-0 table [buckets, heads]. */
function positionBias(ctx: Lowering, stack: 'encoder' | 'decoder', spec: EncDecSpec, L: number): Tensor {
  const table = ctx.weight(`${stack}.layers.0.attn.relbias`, [spec.buckets, spec.heads], normal(0.02));
  const idx: number[] = [];
  for (let q = 0; q < L; q++)
    for (let k = 0; k < L; k++) idx.push(relativeBucket(k - q, stack === 'encoder', spec.buckets, spec.maxDistance));
  const bias = ctx.b.gather(table, ctx.b.constant(idx, [L, L], 'i32')); // [L, L, H]
  return bias.permute([2, 0, 1]).reshape([1, spec.heads, L, L]);
}

/** T5's block options: pre-RMS-norm, no biases, unscaled attention. */
function t5Cfg(spec: EncDecSpec): BlockCfg {
  const { width: d, heads } = spec;
  if (!spec.headDim && d % heads)
    throw new SpecError(`text: width ${d} is not divisible by ${heads} heads; set headDim`);
  return {
    heads,
    headDim: spec.headDim ?? d / heads,
    mlp: spec.ffn,
    act: spec.act,
    gated: spec.gated,
    bias: false,
    norm: { kind: 'rms', eps: spec.eps },
    placement: 'pre',
    scaled: false,
  };
}

/** The LM head: tied to the embeddings with inputs scaled by width^-1/2, or its own weight. */
function lmHead(ctx: Lowering, spec: EncDecSpec, y: Tensor, embed: Tensor): Tensor {
  return ctx.b.scope('head', () =>
    spec.tied
      ? y.mul(spec.width ** -0.5).matmul(embed, { transB: true })
      : y.matmul(ctx.weight('decoder.lm_head', [spec.vocab, spec.width], normal(0.02)), { transB: true }),
  );
}

export interface EncDecOut {
  encoder: Tower;
  decoder: Tower;
  /** [B, T, vocab] (head 'lm'). */
  logits: Tensor | null;
  targetMask: Tensor | null;
}

/**
 * Runs the encoder over tokens (+ prefix) and the decoder over teacher-forced target tokens
 * (head 'lm') or a single decoder-start token 0 (otherwise: its state is the pooled feature,
 * as VL-T5's discriminative VQA head reads it).
 */
export function encoderDecoder(ctx: Lowering, spec: EncDecSpec, prefix: Tensor | null): EncDecOut {
  const B = ctx.opts.batch;
  const { vocab, maxLen: L, targetLen: T, width: d } = spec;
  const cfg = t5Cfg(spec);
  const tokens = ctx.b.input('tokens', [B, L], 'i32');
  const textMask = ctx.b.input('mask', [B, L]);
  const lm = ctx.spec.head.kind === 'lm';
  const dec = lm ? ctx.b.input('targetTokens', [B, T], 'i32') : ctx.b.constant(0, [B, 1], 'i32');
  const targetMask = lm ? ctx.b.input('targetMask', [B, T]) : ctx.b.constant(1, [B, 1]);
  const embed = ctx.weight('shared.embed', [vocab, d], normal(1));
  let { h, mask } = prependPrefix(
    ctx,
    ctx.b.scope('encoder', () => ctx.b.gather(embed, tokens)),
    textMask,
    prefix,
  );
  const encBias = ctx.b.scope('encoder', () => positionBias(ctx, 'encoder', spec, h.shape[1]));
  for (let i = 0; i < spec.encoderDepth; i++)
    h = block(ctx, 'encoder', i, h, cfg, { mask, causal: false, bias: encBias });
  const memory = ctx.b.scope('encoder', () => norm(ctx, 'encoder.ln_f', h, cfg.norm));
  ctx.finals.set('encoder', { hidden: memory, mask });
  let y = ctx.b.scope('decoder', () => ctx.b.gather(embed, dec));
  const decBias = ctx.b.scope('decoder', () => positionBias(ctx, 'decoder', spec, y.shape[1]));
  // Prefill of a KV cache (kv-cache.ts): every decoder layer also outputs its keys and values, and those over the encoder output.
  const prefill = ctx.opts.kv?.mode === 'prefill';
  if (prefill) ctx.b.output(KV_INPUTS.crossMask, mask);
  for (let i = 0; i < spec.decoderDepth; i++) {
    y = block(
      ctx,
      'decoder',
      i,
      y,
      cfg,
      { mask: targetMask, causal: true, bias: decBias, kv: prefill ? prefillHook(ctx, i) : undefined },
      { memory, mask, causal: false, bias: null, kv: prefill ? prefillCrossHook(ctx, i) : undefined },
    );
  }
  y = ctx.b.scope('decoder', () => norm(ctx, 'decoder.ln_f', y, cfg.norm));
  ctx.finals.set('decoder', { hidden: y, mask: targetMask });
  const logits = lm ? lmHead(ctx, spec, y, embed) : null;
  return {
    encoder: { hidden: memory, pooled: token(ctx, memory, 0), mask },
    decoder: { hidden: y, pooled: token(ctx, y, 0), mask: targetMask },
    logits,
    targetMask: lm ? targetMask : null,
  };
}

/**
 * One decoding step of T5's decoder over a KV cache (kv-cache.ts): the new token attends to the
 * cached keys and values of the tokens before it (its relative position bias the row of its
 * position) and to the cached keys and values over the encoder output, computed once by prefill.
 * Logits [B, 1, vocab].
 */
export function t5DecoderStep(ctx: Lowering, spec: EncDecSpec, length: number, encoderLength: number): Tensor {
  const b = ctx.b;
  const B = ctx.opts.batch;
  const cfg = t5Cfg(spec);
  stepVisual(ctx, spec.width);
  const token = b.input(KV_INPUTS.token, [B, 1], 'i32');
  const { here, parents, mask, position } = stepPosition(ctx, length);
  const crossMask = b.input(KV_INPUTS.crossMask, [B, encoderLength]);
  const embed = ctx.weight('shared.embed', [spec.vocab, spec.width], normal(1));
  let y = b.scope('decoder', () => b.gather(embed, token));
  // The relative position bias of the query at `position` over every key: one row of the stack's table.
  const bias = b.scope('decoder', () =>
    b
      .gather(
        positionBias(ctx, 'decoder', spec, length).reshape([spec.heads, length, length]).permute([1, 0, 2]),
        position,
      )
      .reshape([1, spec.heads, 1, length]),
  );
  const shape = { heads: cfg.heads, length, headDim: cfg.headDim };
  for (let i = 0; i < spec.decoderDepth; i++) {
    const cached = {
      k: b.input(kvCross('k', i), [B, cfg.heads, encoderLength, cfg.headDim]),
      v: b.input(kvCross('v', i), [B, cfg.heads, encoderLength, cfg.headDim]),
    };
    y = block(
      ctx,
      'decoder',
      i,
      y,
      cfg,
      { mask, causal: false, bias, kv: stepHook(ctx, i, shape, here, parents) },
      // The encoder output is not here: its keys and values are (memory only stands in).
      { memory: y, mask: crossMask, causal: false, bias: null, cached },
    );
  }
  y = b.scope('decoder', () => norm(ctx, 'decoder.ln_f', y, cfg.norm));
  return lmHead(ctx, spec, y, embed);
}
