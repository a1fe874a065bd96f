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
import type { Lowering } from './context.ts';
import { KV_INPUTS, kvName } from '../../kv-inputs.ts';

type DecoderSpec = Extract<NonNullable<ModelSpec['text']>, { kind: 'decoder' }>;

export { KV_INPUTS, kvName, kvNext } from '../../kv-inputs.ts';

/** Prefill's hook for layer `i`: outputs its keys and values by head, unchanged. */
export function prefillHook(ctx: Lowering, i: number) {
  return (k: Tensor, v: Tensor) => {
    ctx.b.output(kvName('k', i), k);
    ctx.b.output(kvName('v', i), v);
    return { k, v };
  };
}

/** The routed visual feature as prefill computed it (an output), for the steps to take as an input. */
export function outputVisual(ctx: Lowering): void {
  if (ctx.visual) ctx.b.output(KV_INPUTS.visual, ctx.visual);
}

/** A KV cache serves a decoder-only LM; anything else is refused by name. */
export function checkKv(spec: ModelSpec): asserts spec is ModelSpec & { text: DecoderSpec } {
  if (spec.text?.kind !== 'decoder' || spec.head.kind !== 'lm')
    throw new SpecError(
      `a KV cache serves a decoder-only LM (hf.text() of a GPT-2 directory with vl.lm()); this spec's text tower is ${spec.text ? `'${spec.text.kind}'` : 'absent'} with head '${spec.head.kind}'`,
    );
}
