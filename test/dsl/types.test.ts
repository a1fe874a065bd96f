/** Insertion paths are checked by tsc (npm test runs tsc --noEmit before vitest). */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { peft } from '../../src/dsl/index.ts';
import { defineMethod } from '../../src/compiler/lower/peft/method.ts';

describe('typed insertion paths', () => {
  it('accepts valid paths and rejects misspelled ones at compile time', () => {
    const ok = peft.lora({ at: ['text.layers.*.attn.{q,v}', 'vision.layers.0.ffn.up'], rank: 4 });
    expect(ok.method).toBe('lora');
    // @ts-expect-error: 'layer' is not a segment of any linear path
    const bad = peft.lora({ at: 'text.layer.0.attn.q', rank: 4 });
    // @ts-expect-error: an FFN is a sublayer, not a linear: LoRA cannot attach to it
    const bad2 = peft.lora({ at: 'text.layers.0.ffn', rank: 4 });
    // @ts-expect-error: 'mlp' is not a sublayer name
    const bad3 = peft.mixphm({ at: 'text.layers.*.mlp' });
    // T5's gated FFN and cross-attention are typed points too.
    const t5 = peft.lora({ at: ['encoder.layers.*.ffn.gate', 'decoder.layers.0.cross.{q,v}'], rank: 4 });
    expect(t5.method).toBe('lora');
    // @ts-expect-error: the encoder has no cross-attention
    const bad4 = peft.lora({ at: 'encoder.layers.0.cross.q', rank: 4 });
    expect([bad, bad2, bad3, bad4].length).toBe(4); // built at run time anyway; lowering would reject them
  });

  it('the method registry refuses incomplete methods at compile time', () => {
    const schema = z.object({ method: z.literal('mine') });
    // @ts-expect-error: a method attached at sublayers must say how it rewrites them
    const noRewrite = defineMethod({ schema, attach: 'sublayer', tag: null });
    // @ts-expect-error: a params method must say which params it unfreezes
    const noRule = defineMethod({ schema, attach: 'params', tag: null });
    expect([noRewrite, noRule].length).toBe(2);
  });
});
