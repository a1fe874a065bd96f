/**
 * `npm run example:caption`'s model: the VQA example's ViT (examples/mnist-vqa/vit) and a small
 * GPT-2-style decoder pretrained on caption text alone (examples/mnist-vqa/gpt2, make-captions.ts),
 * both frozen; the image's pooled feature enters the decoder as a prefix token (ViT + GPT-2, the
 * routing paper's captioning setting). PEFT: LoRA with the 'inner' routing function on the
 * decoder's query and value projections, and a routed adapter after each FFN.
 */
import { join } from 'node:path';
import { hf, peft, vl } from '../src/index.ts';

const dir = join(import.meta.dirname, 'mnist-vqa');

export default vl
  .model({
    vision: hf.vision(join(dir, 'vit')),
    text: hf.text(join(dir, 'gpt2'), { maxLen: 24 }),
    // One prefix token per cell of the 2 x 2 grid (the mean of its patches), embedded as VL-T5 embeds regions.
    visualPrefix: 'regions',
    visualRegions: [2, 2],
    visualEmbed: true,
    head: vl.lm(),
  })
  // The towers stay frozen; the prefix's projection and position rows train with the PEFT modules.
  .freeze('vision.**', 'text.**')
  .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 8, routing: 'inner' }))
  .insert(peft.adapter({ at: 'text.layers.*.ffn', bottleneck: 16, routing: 'inner' }));
