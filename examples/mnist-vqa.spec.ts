/**
 * The main job's model: two pretrained towers read from HF-layout directories (a ViT and the
 * BERT-style question encoder it was jointly pretrained with, examples/mnist-vqa/{vit,bert}),
 * frozen. Each cell of the 2 x 2 scene enters the question encoder as a prefix token (the mean
 * of its patch states, embedded as VL-T5 embeds regions: the fusion encoder), as in the towers'
 * pretraining; the prefix's embedding starts from that pretraining (prefix.safetensors) and
 * trains on with the new VQA head and the PEFT modules.
 * PEFT: MixPHM after every FFN of the fusion encoder (with its redundancy regularizer) and LoRA
 * on its query and value projections.
 */
import { join } from 'node:path';
import { hf, peft, vl } from '../src/index.ts';

const dir = join(import.meta.dirname, 'mnist-vqa');

export default vl
  .model({
    vision: hf.vision(join(dir, 'vit')),
    text: hf.text(join(dir, 'bert'), { maxLen: 16 }),
    visualPrefix: 'regions',
    visualRegions: [2, 2],
    visualEmbed: true,
    head: vl.classifier({ answers: 27, loss: 'bce' }),
  })
  // The prefix's embedding, pretrained with the towers; it trains on with the head and the PEFT modules.
  .init(join(dir, 'prefix.safetensors'))
  .freeze('vision.**', 'text.**')
  .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 4, bottleneck: 16, kron: 4, rank: 2 }))
  .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 8 }))
  .regularize({ red: 0.1, rel: 0.02 });
