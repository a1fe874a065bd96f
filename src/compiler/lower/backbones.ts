/**
 * Backbones: ViT (patch embedding, CLS, pre-LN blocks, pooler tanh(dense(CLS))), a text
 * encoder (token + position embeddings, optional visual prefix token), a T5-style
 * encoder-decoder (RMS norms, no biases, tied embeddings), and the VQA classifier head
 * (d -> 2d -> LN -> gelu -> answers). Every linear and sublayer goes through the hooks.
 */
import type { Tensor } from '../builder.ts';
import { attention, layerNorm } from '../composites.ts';
import { type Lowering, normal } from './context.ts';
import { linear, sublayer } from './hooks.ts';
import type { ModelSpec } from '../../dsl/spec.ts';

type Norm = 'ln' | 'rms';

function norm(ctx: Lowering, name: string, x: Tensor, kind: Norm): Tensor {
  const d = x.shape[x.rank - 1];
  const g = ctx.normScale(`${name}.g`, [d]);
  if (kind === 'ln') return layerNorm(ctx.b, x, g, ctx.bias(`${name}.b`, [d]));
  return x.mul(x.mul(x).mean([x.rank - 1], true).add(1e-6).rsqrt()).mul(g);
}

interface BlockOpts {
  heads: number;
  dff: number;
  mask: Tensor | null;
  causal?: boolean;
  norm: Norm;
  bias: boolean;
  cross?: { memory: Tensor; mask: Tensor | null };
}

function attn(ctx: Lowering, path: string, xq: Tensor, xkv: Tensor, o: BlockOpts, mask: Tensor | null, causal: boolean): Tensor {
  const d = xq.shape[2];
  const lin = (name: string, x: Tensor) => linear(ctx, `${path}.${name}`, x, d, d, { bias: o.bias });
  const out = attention(ctx.b, { q: lin('q', xq), k: lin('k', xkv), v: lin('v', xkv), heads: o.heads, keyMask: mask ?? undefined, causal });
  return lin('o', out);
}

/** A pre-norm block: h + drop(hook(attn(norm h))), then h + drop(hook(ffn(norm h))). */
function block(ctx: Lowering, stack: string, i: number, h: Tensor, o: BlockOpts): Tensor {
  const p = `${stack}.layers.${i}`;
  const d = h.shape[2];
  const drop = (x: Tensor) => ctx.dropout(x, ctx.spec.dropout);
  h = ctx.b.scope(`${p}.attn`, () => {
    const x = norm(ctx, `${p}.ln1`, h, o.norm);
    return h.add(drop(sublayer(ctx, `${p}.attn`, attn(ctx, `${p}.attn`, x, x, o, o.mask, !!o.causal), stack)));
  });
  if (o.cross) {
    const c = o.cross;
    h = ctx.b.scope(`${p}.cross`, () => h.add(drop(sublayer(ctx, `${p}.cross`, attn(ctx, `${p}.cross`, norm(ctx, `${p}.lnx`, h, o.norm), c.memory, o, c.mask, false), stack))));
  }
  return ctx.b.scope(`${p}.ffn`, () => {
    const x = norm(ctx, `${p}.ln2`, h, o.norm);
    const u = linear(ctx, `${p}.ffn.up`, x, d, o.dff, { bias: o.bias }).gelu();
    const f = linear(ctx, `${p}.ffn.down`, u, o.dff, d, { bias: o.bias });
    return h.add(drop(sublayer(ctx, `${p}.ffn`, f, stack)));
  });
}

/** Mask-weighted mean over tokens: [B, L, d] -> [B, d]. */
export function maskedMean(x: Tensor, mask: Tensor | null): Tensor {
  if (!mask) return x.mean([1]);
  const [B, L] = mask.shape;
  const m = mask.reshape([B, L, 1]);
  return x.mul(m).sum([1]).div(m.sum([1]));
}

export function vit(ctx: Lowering, spec: NonNullable<ModelSpec['vision']>): Tensor {
  const B = ctx.opts.batch;
  const { image: [H, W], channels: C, patch: P, width: d, depth, heads, mlpRatio } = spec;
  if (H % P || W % P) throw new Error(`vision: image ${H}x${W} is not divisible into ${P}x${P} patches`);
  const [gh, gw] = [H / P, W / P];
  const img = ctx.b.input('image', [B, C, H, W]);
  return ctx.b.scope('vision', () => {
    const patches = img.reshape([B, C, gh, P, gw, P]).permute([0, 2, 4, 1, 3, 5]).reshape([B, gh * gw, C * P * P]);
    const emb = linear(ctx, 'vision.patch', patches, C * P * P, d);
    const cls = ctx.weight('vision.cls', [1, 1, d], normal(0.02)).broadcastTo([B, 1, d]);
    let h = ctx.b.concat([cls, emb], 1).add(ctx.weight('vision.pos', [gh * gw + 1, d], normal(0.02)));
    for (let i = 0; i < depth; i++) h = block(ctx, 'vision', i, h, { heads, dff: mlpRatio * d, mask: null, norm: 'ln', bias: true });
    h = norm(ctx, 'vision.ln_f', h, 'ln');
    ctx.finals.set('vision', { hidden: h, mask: null });
    const clsOut = ctx.b.slice(h, [0, 0, 0], [B, 1, d]).reshape([B, d]);
    return linear(ctx, 'vision.pooler', clsOut, d, d).tanh();
  });
}

/** Text encoder; with a visual feature, it is prepended as one prefix token. Returns pooled [B, d]. */
export function textEncoder(ctx: Lowering, spec: Extract<ModelSpec['text'], { kind: 'encoder' }>, visual: Tensor | null): Tensor {
  const B = ctx.opts.batch;
  const { vocab, maxLen: L, width: d, depth, heads, mlpRatio } = spec;
  const tokens = ctx.b.input('tokens', [B, L], 'i32');
  let mask = ctx.b.input('mask', [B, L]);
  return ctx.b.scope('text', () => {
    let h = ctx.b.gather(ctx.weight('text.embed.tok', [vocab, d], normal(0.02)), tokens).add(ctx.weight('text.embed.pos', [L, d], normal(0.02)));
    if (visual) {
      h = ctx.b.concat([visual.reshape([B, 1, d]), h], 1);
      mask = ctx.b.concat([ctx.b.constant(1, [B, 1]), mask], 1);
    }
    for (let i = 0; i < depth; i++) h = block(ctx, 'text', i, h, { heads, dff: mlpRatio * d, mask, norm: 'ln', bias: true });
    h = norm(ctx, 'text.ln_f', h, 'ln');
    ctx.finals.set('text', { hidden: h, mask });
    return maskedMean(h, mask);
  });
}

/** T5-style encoder-decoder with teacher forcing; returns [B, T, vocab] logits. */
export function encoderDecoder(ctx: Lowering, spec: Extract<ModelSpec['text'], { kind: 'encdec' }>): { logits: Tensor; targetMask: Tensor } {
  const B = ctx.opts.batch;
  const { vocab, maxLen: L, targetLen: T, width: d, ffn, heads, encoderDepth, decoderDepth } = spec;
  const tokens = ctx.b.input('tokens', [B, L], 'i32');
  const mask = ctx.b.input('mask', [B, L]);
  const dec = ctx.b.input('targetTokens', [B, T], 'i32');
  const targetMask = ctx.b.input('targetMask', [B, T]);
  const embed = ctx.weight('shared.embed', [vocab, d], normal(1));
  const base = { heads, dff: ffn, norm: 'rms' as const, bias: false };
  let h = ctx.b.scope('encoder', () => ctx.b.gather(embed, tokens));
  for (let i = 0; i < encoderDepth; i++) h = block(ctx, 'encoder', i, h, { ...base, mask });
  const memory = norm(ctx, 'encoder.ln_f', h, 'rms');
  ctx.finals.set('encoder', { hidden: memory, mask });
  let y = ctx.b.scope('decoder', () => ctx.b.gather(embed, dec));
  for (let i = 0; i < decoderDepth; i++) y = block(ctx, 'decoder', i, y, { ...base, mask: targetMask, causal: true, cross: { memory, mask } });
  y = norm(ctx, 'decoder.ln_f', y, 'rms');
  ctx.finals.set('decoder', { hidden: y, mask: targetMask });
  // Tied LM head, scaled by d^-1/2 as T5 does.
  return { logits: ctx.b.scope('head', () => y.mul(d ** -0.5).matmul(embed, { transB: true })), targetMask };
}

export function classifierHead(ctx: Lowering, pooled: Tensor, answers: number): Tensor {
  const d = pooled.shape[1];
  return ctx.b.scope('head', () => {
    const z = linear(ctx, 'head.fc1', pooled, d, 2 * d);
    const n = layerNorm(ctx.b, z, ctx.normScale('head.ln.g', [2 * d]), ctx.bias('head.ln.b', [2 * d])).gelu();
    return linear(ctx, 'head.fc2', n, 2 * d, answers);
  });
}
