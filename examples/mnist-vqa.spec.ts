/**
 * The main job's model: two pretrained towers read from HF-layout directories (a ViT and the
 * BERT-style question encoder it was pretrained with, examples/mnist-vqa/{vit,bert}), frozen;
 * the pooled image feature enters the question encoder as a prefix token (the fusion encoder).
 * PEFT: MixPHM after every FFN of the fusion encoder (with its redundancy regularizer) and LoRA
 * with the 'inner' routing function on its query and value projections; a new VQA head.
 */
import { join } from 'node:path';
import { hf, peft, vl } from '../src/index.ts';

const dir = join(import.meta.dirname, 'mnist-vqa');

export default vl
  .model({
    vision: hf.vision(join(dir, 'vit')),
    text: hf.text(join(dir, 'bert'), { maxLen: 16 }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: 27, loss: 'bce' }),
  })
  .freeze('**')
  .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 4, bottleneck: 16, kron: 4, rank: 2 }))
  .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 8, routing: 'inner' }))
  .regularize({ red: 0.1, rel: 0.02 });
