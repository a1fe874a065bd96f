/**
 * A VL model from two pretrained HF-layout directories (the routing-functions setting): a ViT
 * and a BERT encoder, the ViT's pooled feature as a prefix token of the text and as the routing
 * input, a VQA classifier. The directories here are the tiny test fixtures; point them at
 * directories downloaded from the HF hub (e.g. google/vit-base-patch16-224-in21k and
 * bert-base-uncased, saved with safetensors) for the real thing.
 *
 *   npx peftgraph explain examples/pretrained-vl.spec.ts --batch 4
 */
import { join } from 'node:path';
import { hf, peft, vl } from '../src/index.ts';

const fixtures = join(import.meta.dirname, '..', 'test', 'fixtures', 'hf');

export default vl
  .model({
    vision: hf.vision(join(fixtures, 'vit')),
    text: hf.text(join(fixtures, 'bert'), { maxLen: 8 }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: 10 }),
  })
  .freeze('**')
  .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 4, routing: 'inner' }));
