/** The smallest VL backbone the quadrants data fits (16x16 images, 3-token questions, 6 answers). */
import { vl } from '../../src/dsl/index.ts';

export const tinyVl = () =>
  vl.model({
    vision: vl.vit({ image: [16, 16], patch: 8, width: 8, depth: 1, heads: 2 }),
    text: vl.encoder({ vocab: 8, maxLen: 3, width: 8, depth: 1, heads: 2 }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: 6 }),
  });
