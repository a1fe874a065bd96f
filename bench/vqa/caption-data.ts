/**
 * The captioning setting's data (issue 35, part 3): MNIST-grid scenes and their three captions
 * (captions.ts), k-shot in images. The scenes follow the near-transfer distribution (near.ts):
 * the pool from the 'adapt' digit samples, the test set from the last 20% of each class, fewer
 * empty cells and digits weighted towards 9, while the caption decoder learned its text from
 * scenes of pretraining digits (pretrain.ts captext). Training makes one example per caption;
 * dev and test one per image, with all three captions as the references CIDEr-D scores against.
 */
import type { Dataset, Example } from '../../src/runtime/batches.ts';
import { shuffled } from '../../src/runtime/batches.ts';
import { captionIds, captionsOf } from './captions.ts';
import { mnistVqa } from './mnist-vqa.ts';
import { NEAR_DOWNSTREAM, NEAR_TEST } from './near.ts';

/** Images in the pool (2 x the largest k: train and dev never overlap) and in the test set. */
export const CAPTION_POOL = 2000;
export const CAPTION_TEST = 300;
const POOL_SEED = 8101;
const TEST_SEED = 8102;

interface Scenes {
  images: Float32Array[];
  captions: string[][];
}

/** Scenes of a draw: a question family is needed to draw them; its questions are not used. */
const scenes = (draw: typeof NEAR_DOWNSTREAM, n: number, seed: number): Scenes => {
  const set = mnistVqa({ ...draw, families: ['count'], n, seed });
  return { images: set.examples.map((e) => e.image), captions: set.scenes.map(captionsOf) };
};

let pool: Scenes | undefined;
let test: (Dataset & { captions: string[][] }) | undefined;

export function captionPool(): Scenes {
  pool ??= scenes(NEAR_DOWNSTREAM, CAPTION_POOL, POOL_SEED);
  return pool;
}

/** Training examples: one per caption of each image. */
function trainSet(s: Scenes, idx: number[]): Dataset {
  const examples: Example[] = idx.flatMap((i) => s.captions[i].map((c) => ({ image: s.images[i], ...captionIds(c) })));
  return { examples };
}

/** Evaluation examples: one per image (its first caption for the teacher-forced loss), all captions as references. */
function evalSet(s: Scenes, idx: number[]): Dataset & { captions: string[][] } {
  return {
    examples: idx.map((i) => ({ image: s.images[i], ...captionIds(s.captions[i][0]) })),
    captions: idx.map((i) => s.captions[i]),
  };
}

/** The seed's draw: k training images (3k captions) and k dev images, disjoint, from the pool. */
export function captionDraw(k: number, seed: number): { train: Dataset; dev: Dataset } {
  if (2 * k > CAPTION_POOL) throw new Error(`k=${k} needs ${2 * k} pool images, the caption pool has ${CAPTION_POOL}`);
  const order = shuffled(CAPTION_POOL, seed);
  return { train: trainSet(captionPool(), order.slice(0, k)), dev: evalSet(captionPool(), order.slice(k, 2 * k)) };
}

/** The fixed test set: scenes of held-out digit samples. */
export function captionTest(): Dataset & { captions: string[][] } {
  if (!test) {
    const s = scenes(NEAR_TEST, CAPTION_TEST, TEST_SEED);
    test = evalSet(s, [...s.images.keys()]);
  }
  return test;
}

/** The whole pool as training examples, and 200 more images as dev: the ceiling run's data. */
export function captionCeiling(): { train: Dataset; dev: Dataset & { captions: string[][] } } {
  const dev = scenes(NEAR_DOWNSTREAM, 200, POOL_SEED + 2);
  return { train: trainSet(captionPool(), [...Array(CAPTION_POOL).keys()]), dev: evalSet(dev, [...dev.images.keys()]) };
}
