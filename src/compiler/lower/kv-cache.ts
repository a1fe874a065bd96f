/**
 * Generation with a KV cache for a decoder-only LM (GPT-2 after a visual prefix). Two graphs:
 * - prefill (LowerOptions.kv 'prefill'): the ordinary inference graph over the prefix and the
 *   prompt, which also outputs every layer's keys and values by head (`kv.k.<i>`, `kv.v.<i>`
 *   [B, H, L, dh], L = prefix + maxLen: the cache's length) and the visual feature routing
 *   reads (`kv.visual`);
 * - step (LowerOptions.kv 'step'): one new token per sequence. Its inputs are the token, its
 *   text position (the position-embedding row), its cache position, each sequence's parent
 *   (the row of the cache it continues: beams reorder on the device, greedy passes 0..B-1), the
 *   key mask over the cache, the routed visual feature, and the caches. Each layer writes the
 *   new token's key and value into its parent's cache at the cache position and attends over
 *   the result; the updated caches are outputs (`kv.k.<i>.next`), which the runtime trades with
 *   the inputs after each step (ping-pong), so the cache never leaves the device.
 * The vision tower does not run in a step: its prefix is already in the cache. The step itself
 * is text.ts's decoderStep, beside the decoder it shares its weights with.
 */
import type { Tensor } from '../builder.ts';
import { SpecError, type ModelSpec } from '../../dsl/spec.ts';
import { needsVisual } from '../../dsl/peft/index.ts';
import type { Lowering } from './context.ts';
import { KV_INPUTS, kvCross, kvName, kvNext } from '../../kv-inputs.ts';

type DecoderSpec = Extract<NonNullable<ModelSpec['text']>, { kind: 'decoder' }>;
type EncDecSpec = Extract<NonNullable<ModelSpec['text']>, { kind: 'encdec' }>;

export { KV_INPUTS, kvCross, kvName, kvNext } from '../../kv-inputs.ts';

/** Prefill's hook for layer `i`: outputs its keys and values by head, unchanged. */
export function prefillHook(ctx: Lowering, i: number) {
  return (k: Tensor, v: Tensor) => {
    ctx.b.output(kvName('k', i), k);
    ctx.b.output(kvName('v', i), v);
    return { k, v };
  };
}

/** Prefill's hook for an encoder-decoder's layer `i` cross-attention: outputs its keys and values over the encoder output. */
export function prefillCrossHook(ctx: Lowering, i: number) {
  return (k: Tensor, v: Tensor) => {
    ctx.b.output(kvCross('k', i), k);
    ctx.b.output(kvCross('v', i), v);
    return { k, v };
  };
}

/**
 * A step's hook for self-attention layer `i`: the new token's key and value written into its
 * parent's cache row at the position `here` marks ([1, 1, length, 1]), the caches declared as
 * inputs and their updates as outputs; attention reads the updated caches.
 */
export function stepHook(
  ctx: Lowering,
  i: number,
  shape: { heads: number; length: number; headDim: number },
  here: Tensor,
  parents: Tensor,
) {
  const b = ctx.b;
  const B = ctx.opts.batch;
  return (kNew: Tensor, vNew: Tensor) => {
    const write = (kind: 'k' | 'v', fresh: Tensor) => {
      const cache = b.input(kvName(kind, i), [B, shape.heads, shape.length, shape.headDim]);
      const next = b.where(here, fresh, b.gather(cache, parents));
      b.output(kvNext(kvName(kind, i)), next);
      return next;
    };
    return { k: write('k', kNew), v: write('v', vNew) };
  };
}

/** The cache row a step writes: positions equal to the step's `at` input, [1, 1, length, 1]. */
export function stepPosition(
  ctx: Lowering,
  length: number,
): { here: Tensor; parents: Tensor; mask: Tensor; position: Tensor } {
  const b = ctx.b;
  const B = ctx.opts.batch;
  const at = b.input(KV_INPUTS.at, [1]);
  const iota = b.constant(
    Array.from({ length }, (_, t) => t),
    [1, 1, length, 1],
  );
  return {
    here: b.eq(iota, at.reshape([1, 1, 1, 1])),
    parents: b.input(KV_INPUTS.parents, [B], 'i32'),
    mask: b.input(KV_INPUTS.mask, [B, length]),
    position: b.input(KV_INPUTS.position, [1], 'i32'),
  };
}

/**
 * A step's routed visual feature as an input (prefill outputs it), when an insertion routes: the
 * embedded prefix token's width when the pooled prefix is embedded (lowerTask routes that), else
 * the vision tower's pooled width.
 */
export function stepVisual(ctx: Lowering, textWidth: number): void {
  const { spec } = ctx;
  if (!spec.insertions.some(needsVisual)) return;
  const width = spec.visualEmbed && spec.visualPrefix === 'pooled' ? textWidth : (spec.vision?.width ?? textWidth);
  ctx.visual = ctx.b.input(KV_INPUTS.visual, [ctx.opts.batch, width]);
}

/** The routed visual feature as prefill computed it (an output), for the steps to take as an input. */
export function outputVisual(ctx: Lowering): void {
  if (ctx.visual) ctx.b.output(KV_INPUTS.visual, ctx.visual);
}

/** A KV cache serves a decoder LM (GPT-2) or an encoder-decoder's decoder (T5) with an lm head; anything else is refused by name. */
export function checkKv(spec: ModelSpec): asserts spec is ModelSpec & { text: DecoderSpec | EncDecSpec } {
  if ((spec.text?.kind !== 'decoder' && spec.text?.kind !== 'encdec') || spec.head.kind !== 'lm')
    throw new SpecError(
      `a KV cache serves a decoder LM (GPT-2) or an encoder-decoder (T5) with an lm head (vl.lm()); this spec's text tower is ${spec.text ? `'${spec.text.kind}'` : 'absent'} with head '${spec.head.kind}'`,
    );
}
