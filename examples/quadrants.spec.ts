/** The example model: a small ViT + text encoder, visual prefix, VQA classifier, trained fully. */
import { peft, vl } from '../src/dsl/index.ts';
import { ANSWERS, IMAGE, QLEN, VOCAB } from './quadrants.ts';

export default vl
  .model({
    vision: vl.vit({ image: [IMAGE, IMAGE], patch: 4, width: 32, depth: 2, heads: 4 }),
    text: vl.encoder({ vocab: VOCAB, maxLen: QLEN, width: 32, depth: 2, heads: 4 }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: ANSWERS, loss: 'bce' }),
  })
  .insert(peft.full());
