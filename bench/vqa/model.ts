/**
 * The MNIST-VQA models. `backbone()` is the vision-language model: a ViT over the 56x56 scene
 * (7x7 patches), a text encoder over the question, the pooled visual feature prepended to the
 * text as one token, and the VQA classifier over the shared answer vocabulary. PEFT methods are
 * added per experiment.
 *
 * The routing setting pretrains vision and text apart, each with its own throwaway head:
 * `visionPretrainModel()` reads the scene out (which digit, or none, in each cell) through a
 * one-token stub text stack, and `textPretrainModel()` reads a question's intent (family,
 * digit and position mentioned) from the text alone. Their `vision.*` and `text.*` params have
 * the names and shapes of `backbone()`'s, so the checkpoints drop in.
 */
import { vl } from '../../src/dsl/index.ts';
import { ANSWERS, CANVAS, QLEN, WORDS } from './mnist-vqa.ts';

export const WIDTH = 64;

const vit = () => vl.vit({ image: [CANVAS, CANVAS], patch: 7, width: WIDTH, depth: 2, heads: 4 });
const textEncoder = () => vl.encoder({ vocab: WORDS.length, maxLen: QLEN, width: WIDTH, depth: 2, heads: 4 });

export const backbone = () =>
  vl.model({ vision: vit(), text: textEncoder(), visualPrefix: 'pooled', head: vl.classifier({ answers: ANSWERS.length, loss: 'bce' }) });

/** Cell labels: 4 cells x (digit 0-9 or empty), multi-hot. */
export const SCENE_LABELS = 4 * 11;

export const visionPretrainModel = () =>
  vl.model({
    vision: vit(),
    text: vl.encoder({ vocab: 1, maxLen: 1, width: WIDTH, depth: 1, heads: 4 }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: SCENE_LABELS, loss: 'bce' }),
  });

/** Question labels: family (8), digit mentioned (10), position mentioned (4), multi-hot. */
export const QUESTION_LABELS = 8 + 10 + 4;

export const textPretrainModel = () => vl.model({ text: textEncoder(), head: vl.classifier({ answers: QUESTION_LABELS, loss: 'bce' }) });
