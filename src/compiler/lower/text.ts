/**
 * Text towers over token ids [B, L] and a token mask [B, L]:
 * - the encoder: peftgraph's own pre-LN stack (mean pooling), or BERT / RoBERTa by options
 *   (post-LN, embedding LN, token types, RoBERTa's position ids, tanh(dense(CLS)) pooler);
 * - the GPT-2-style decoder: pre-LN, causal, final LN, LM head tied to the token embeddings.
 * A visual prefix (one pooled token or a sequence) enters after the embedding block: it gets
 * no position embedding and no embedding norm, and every text token attends to it.
 */
import type { Tensor } from '../builder.ts';
import type { Lowering } from './context.ts';
import { normal } from './inits.ts';
import { linear } from './hooks.ts';
import { block, maskedMean, norm, token, type BlockCfg } from './blocks.ts';
import type { Tower } from './vision.ts';
import { ffnWidth, SpecError, type ModelSpec } from '../../dsl/spec.ts';
import { KV_INPUTS, prefillHook, stepHook, stepPosition, stepVisual } from './kv-cache.ts';

type EncoderSpec = Extract<NonNullable<ModelSpec['text']>, { kind: 'encoder' }>;
type DecoderSpec = Extract<NonNullable<ModelSpec['text']>, { kind: 'decoder' }>;

/** Prepends `prefix` [B, n, d] to the sequence and ones to its mask. */
export function prependPrefix(
  ctx: Lowering,
  h: Tensor,
  mask: Tensor,
  prefix: Tensor | null,
): { h: Tensor; mask: Tensor } {
  if (!prefix) return { h, mask };
  const [B, n] = prefix.shape;
  return { h: ctx.b.concat([prefix, h], 1), mask: ctx.b.concat([ctx.b.constant(1, [B, n]), mask], 1) };
}

/**
 * RoBERTa's position ids: padId + (running count of non-pad tokens) at non-pad tokens, padId
 * at pads. The running count is a matmul with an upper-triangular matrix of ones.
 */
function robertaPositions(ctx: Lowering, tokens: Tensor, padId: number): Tensor {
  const L = tokens.shape[1];
  const notPad = ctx.b.ne(ctx.b.cast(tokens, 'f32'), padId);
  const upper: number[] = [];
  for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) upper.push(i <= j ? 1 : 0);
  const count = notPad.matmul(ctx.b.constant(upper, [L, L]));
  return ctx.b.cast(count.mul(notPad).add(padId), 'i32');
}

/** Token + position (+ token type 0) embeddings: [B, L, d]. */
function embed(ctx: Lowering, spec: EncoderSpec | DecoderSpec, tokens: Tensor): Tensor {
  const { vocab, maxLen: L, width: d } = spec;
  const rows = spec.positions ?? L;
  const robertaIds = spec.kind === 'encoder' && spec.positionIds === 'roberta';
  const need = robertaIds ? L + spec.padId + 1 : L;
  if (rows < need)
    throw new SpecError(
      `text.positions: ${rows} position rows cannot serve maxLen ${L}${robertaIds ? ` with RoBERTa's offset (padId ${spec.padId} + 1)` : ''}: need at least ${need}`,
    );
  const pos = ctx.weight('text.embed.pos', [rows, d], normal(0.02));
  let h = ctx.b.gather(ctx.weight('text.embed.tok', [vocab, d], normal(0.02)), tokens);
  if (robertaIds) h = h.add(ctx.b.gather(pos, robertaPositions(ctx, tokens, spec.padId)));
  else h = h.add(rows === L ? pos : ctx.b.slice(pos, [0, 0], [L, d]));
  if (spec.kind === 'encoder' && spec.typeVocab > 0) {
    const types = ctx.weight('text.embed.type', [spec.typeVocab, d], normal(0.02));
    h = h.add(ctx.b.slice(types, [0, 0], [1, d])); // token_type_ids default to 0
  }
  return h;
}

function stackCfg(spec: EncoderSpec | DecoderSpec, placement: 'pre' | 'post'): BlockCfg {
  const { width: d, heads } = spec;
  if (d % heads) throw new SpecError(`text: width ${d} is not divisible by ${heads} heads`);
  return {
    heads,
    headDim: d / heads,
    mlp: ffnWidth(spec),
    act: spec.act,
    gated: false,
    bias: true,
    norm: { kind: 'ln', eps: spec.eps },
    placement,
    scaled: true,
  };
}

/** The text encoder; `prefix` [B, n, d] enters after the embeddings. */
export function textEncoder(ctx: Lowering, spec: EncoderSpec, prefix: Tensor | null): Tower {
  const B = ctx.opts.batch;
  const tokens = ctx.b.input('tokens', [B, spec.maxLen], 'i32');
  const textMask = ctx.b.input('mask', [B, spec.maxLen]);
  const cfg = stackCfg(spec, spec.norm);
  return ctx.b.scope('text', () => {
    let emb = embed(ctx, spec, tokens);
    if (spec.embedNorm) emb = norm(ctx, 'text.embed.ln', emb, cfg.norm);
    let { h, mask } = prependPrefix(ctx, emb, textMask, prefix);
    for (let i = 0; i < spec.depth; i++) h = block(ctx, 'text', i, h, cfg, { mask, causal: false, bias: null });
    if (spec.norm === 'pre') h = norm(ctx, 'text.ln_f', h, cfg.norm);
    ctx.finals.set('text', { hidden: h, mask });
    const first = prefix ? prefix.shape[1] : 0; // the first text token ([CLS] / <s>)
    const pooled =
      spec.pool === 'mean'
        ? maskedMean(h, mask)
        : linear(ctx, 'text.pooler', token(ctx, h, first), spec.width, spec.width).tanh();
    return { hidden: h, pooled, mask };
  });
}

/** The decoder-only LM's block options (GPT-2: pre-LN), shared with its cached decoding step. */
export function decoderCfg(spec: DecoderSpec): BlockCfg {
  return stackCfg(spec, 'pre');
}

/**
 * The decoder-only LM. Returns the final states and logits [B, n + L, vocab] over the whole
 * sequence (prefix included): the logits at position t predict the token at t + 1.
 */
export function textDecoder(
  ctx: Lowering,
  spec: DecoderSpec,
  prefix: Tensor | null,
): Tower & { logits: Tensor; tokens: Tensor; textMask: Tensor } {
  const B = ctx.opts.batch;
  const tokens = ctx.b.input('tokens', [B, spec.maxLen], 'i32');
  const textMask = ctx.b.input('mask', [B, spec.maxLen]);
  const cfg = decoderCfg(spec);
  return ctx.b.scope('text', () => {
    let { h, mask } = prependPrefix(ctx, embed(ctx, spec, tokens), textMask, prefix);
    // Prefill of a KV cache (kv-cache.ts): every layer also outputs its keys and values.
    const prefill = ctx.opts.kv?.mode === 'prefill';
    for (let i = 0; i < spec.depth; i++)
      h = block(ctx, 'text', i, h, cfg, {
        mask,
        causal: true,
        bias: null,
        kv: prefill ? prefillHook(ctx, i) : undefined,
      });
    h = norm(ctx, 'text.ln_f', h, cfg.norm);
    ctx.finals.set('text', { hidden: h, mask });
    const head = spec.tied ? 'text.embed.tok' : 'text.lm_head';
    const logits = ctx.b.scope('lm', () =>
      h.matmul(ctx.weight(head, [spec.vocab, spec.width], normal(0.02)), { transB: true }),
    );
    return { hidden: h, pooled: maskedMean(h, mask), mask, logits, tokens, textMask };
  });
}

/** One decoding step of the decoder-only LM: logits [B, 1, vocab] for the next token. */
export function decoderStep(ctx: Lowering, spec: DecoderSpec, length: number): Tensor {
  const b = ctx.b;
  const cfg = decoderCfg(spec);
  stepVisual(ctx, spec.width);
  const token = b.input(KV_INPUTS.token, [ctx.opts.batch, 1], 'i32');
  const { here, parents, mask, position } = stepPosition(ctx, length);
  return b.scope('text', () => {
    const rows = spec.positions ?? spec.maxLen;
    const tok = b.gather(ctx.weight('text.embed.tok', [spec.vocab, spec.width], normal(0.02)), token);
    let h = tok.add(b.gather(ctx.weight('text.embed.pos', [rows, spec.width], normal(0.02)), position));
    const shape = { heads: cfg.heads, length, headDim: cfg.headDim };
    for (let i = 0; i < spec.depth; i++)
      h = block(ctx, 'text', i, h, cfg, {
        mask,
        causal: false,
        bias: null,
        kv: stepHook(ctx, i, shape, here, parents),
      });
    h = norm(ctx, 'text.ln_f', h, cfg.norm);
    const head = spec.tied ? 'text.embed.tok' : 'text.lm_head';
    return b.scope('lm', () => h.matmul(ctx.weight(head, [spec.vocab, spec.width], normal(0.02)), { transB: true }));
  });
}
