/**
 * The MNIST-VQA vision-language model: a ViT over the 56x56 scene (7x7 patches), a text
 * encoder over the question, the pooled visual feature prepended to the text as one token, and
 * the VQA classifier over the shared answer vocabulary. PEFT methods are added per experiment.
 */
import { vl } from '../../src/dsl/index.ts';
import { ANSWERS, CANVAS, QLEN, WORDS } from './mnist-vqa.ts';

export const WIDTH = 64;

export const backbone = () =>
  vl.model({
    vision: vl.vit({ image: [CANVAS, CANVAS], patch: 7, width: WIDTH, depth: 2, heads: 4 }),
    text: vl.encoder({ vocab: WORDS.length, maxLen: QLEN, width: WIDTH, depth: 2, heads: 4 }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: ANSWERS.length, loss: 'bce' }),
  });
