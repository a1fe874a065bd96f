/** The smallest VL backbone the quadrants data fits (16x16 images, 3-token questions, 6 answers). */
import { peft, vl } from '../../src/dsl/index.ts';

export const tinyVl = () =>
  vl.model({
    vision: vl.vit({ image: [16, 16], patch: 8, width: 8, depth: 1, heads: 2 }),
    text: vl.encoder({ vocab: 8, maxLen: 3, width: 8, depth: 1, heads: 2 }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: 6 }),
  });

/**
 * A small VL model with MixPHM (dropout, experts, regularizer), routed LoRA and an adapter at
 * once: one step exercises packs, random draws, row kernels and every kernel shape.
 */
export const mixedMethods = () =>
  vl
    .model({
      vision: vl.vit({ image: [8, 8], patch: 4, width: 8, depth: 1, heads: 2 }),
      text: vl.encoder({ vocab: 7, maxLen: 4, width: 8, depth: 2, heads: 2 }),
      visualPrefix: 'pooled',
      head: vl.classifier({ answers: 3 }),
    })
    .freeze('**')
    .insert(
      peft.mixphm({ at: 'text.layers.*.ffn', experts: 2, bottleneck: 4, kron: 2, rank: 2, dropout: 0.5 }),
      peft.lora({ at: 'text.layers.1.attn.{q,v}', rank: 2, routing: 'inner' }),
      peft.adapter({ at: 'vision.layers.0.attn', bottleneck: 2 }),
    )
    .regularize({ red: 0.1, rel: 0.02 });
