/**
 * `npm run example:caption`'s model: a ViT that reads each cell's digit from its patch tokens
 * (examples/mnist-vqa/vit-cells, the benchmark's first pretraining stage) and a small GPT-2-style
 * decoder pretrained on caption text alone (examples/mnist-vqa/gpt2, make-captions.ts), both
 * frozen. Each cell of the 2 x 2 grid enters the decoder as a prefix token (the mean of its
 * patch states, embedded as VL-T5 embeds regions). PEFT: LoRA with the 'add' routing function
 * (the pooled visual feature added inside the bottleneck) on every attention projection and the
 * FFN's up projection, and BitFit on the decoder. docs/captioning.md gives the alternatives
 * measured ('inner', the routing paper's default function, scores far lower here).
 */
import { join } from 'node:path';
import { hf, peft, vl } from '../src/index.ts';

const dir = join(import.meta.dirname, 'mnist-vqa');

export default vl
  .model({
    vision: hf.vision(join(dir, 'vit-cells')),
    text: hf.text(join(dir, 'gpt2'), { maxLen: 24 }),
    visualPrefix: 'regions',
    visualRegions: [2, 2],
    visualEmbed: true,
    head: vl.lm(),
  })
  // The towers stay frozen; the prefix's projection and position rows train with the PEFT modules.
  .freeze('vision.**', 'text.**')
  .insert(peft.lora({ at: ['text.layers.*.attn.{q,k,v,o}', 'text.layers.*.ffn.up'], rank: 16, routing: 'add' }))
  .insert(peft.bitfit({ at: 'text.**' }));
