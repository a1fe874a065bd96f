/**
 * The near-transfer data (issue 35, part 1): pretraining covers every question family, and the
 * downstream split shifts what adaptation must fix, as MixPHM's claim needs (a model that already
 * answers such questions, adapted with k examples to a shifted version of the task):
 * - held-out digit samples: pretraining draws scenes from the first 60% of each class, the
 *   downstream pool from the next 20% ('adapt'), the test set from the last 20%;
 * - new templates of the same families (mnist-vqa.ts 'downstream' phrasing; `larger` asks the
 *   other way round, so its answer flips);
 * - a shifted answer distribution: fewer empty cells (0.1 instead of 0.25: more and larger
 *   counts and sums) and digit classes weighted towards 9 (DIGIT_WEIGHTS).
 * The text tower's own pretraining (text only) sees both phrasings, as a language model knows the
 * words; the joint VL pretraining sees only the pretraining templates.
 */
import { ALL_FAMILIES, mnistVqa, type Family, type MnistVqaOptions, type MnistVqaSet } from './mnist-vqa.ts';
import { asFlavor } from './flavor.ts';
import type { Flavor } from './model.ts';

/** Downstream digit classes: 0 as common as in pretraining, 9 six times as common. */
export const DIGIT_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 4, 5, 6] as const;

type Draw = Omit<MnistVqaOptions, 'n' | 'seed'>;

/** What the joint VL model and the encoder-decoder pretrain on (augmentation aside). */
export const NEAR_PRETRAIN: Draw = { split: 'pretrain', families: ALL_FAMILIES, phrasing: 'pretrain' };
/** The downstream pool's questions (k-shot draws and dev come from here). */
export const NEAR_DOWNSTREAM: Draw = {
  split: 'adapt',
  families: ALL_FAMILIES,
  phrasing: 'downstream',
  digitWeights: DIGIT_WEIGHTS,
  empty: 0.1,
};
/** The test set: the downstream distribution on the last 20% of each digit class. */
export const NEAR_TEST: Draw = { ...NEAR_DOWNSTREAM, split: 'test' };

/**
 * The routing setting's near transfer (issue 35: questions that need the image aligned with the
 * text, not arithmetic): the families that name a digit or a position the image must be searched
 * for, with the same shifts (held-out digits, new templates, the shifted distribution). The
 * towers are pretrained apart (near-routing.sh: the ViT's pooled output reads the scene;
 * near-pretrain.sh: the text encoder, what a question asks), so no model has answered such a question before.
 */
export const ALIGN_FAMILIES = ['digit-at', 'is-there', 'count-digit'] as const satisfies readonly Family[];
export const ALIGN_DOWNSTREAM: Draw = { ...NEAR_DOWNSTREAM, families: ALIGN_FAMILIES };
export const ALIGN_TEST: Draw = { ...ALIGN_DOWNSTREAM, split: 'test' };

/** Which near-transfer data: the joint models' (every family) or the routing setting's (alignment families). */
export type NearData = 'near' | 'near-align';
const DRAWS: Record<NearData, { downstream: Draw; test: Draw }> = {
  near: { downstream: NEAR_DOWNSTREAM, test: NEAR_TEST },
  'near-align': { downstream: ALIGN_DOWNSTREAM, test: ALIGN_TEST },
};

export const NEAR_POOL = 2000;
export const NEAR_TEST_SIZE = 1000;
const POOL_SEED = 8001;
const TEST_SEED = 8002;
const DEV_SEED = 8003;

const cache = new Map<string, MnistVqaSet>();
const memo = (key: string, make: () => MnistVqaSet) => {
  if (!cache.has(key)) cache.set(key, make());
  return cache.get(key)!;
};

/**
 * The downstream pool, read as models of flavor `f` read it. `n` larger than NEAR_POOL (a gate's
 * question of how much adaptation data a setting needs) extends the same draw: its first
 * NEAR_POOL questions are the pool.
 */
export function nearPool(f: Flavor, d: NearData = 'near', n = NEAR_POOL): MnistVqaSet {
  return memo(`pool ${d} ${f} ${n}`, () => asFlavor(mnistVqa({ ...DRAWS[d].downstream, n, seed: POOL_SEED }), f));
}

/** The fixed test set. */
export function nearTest(f: Flavor, d: NearData = 'near'): MnistVqaSet {
  return memo(`test ${d} ${f}`, () => asFlavor(mnistVqa({ ...DRAWS[d].test, n: NEAR_TEST_SIZE, seed: TEST_SEED }), f));
}

/** Dev questions beside the whole pool, for the ceiling run (never drawn from by a k-shot run). */
export function nearCeilingDev(f: Flavor, d: NearData = 'near'): MnistVqaSet {
  return memo(`dev ${d} ${f}`, () => asFlavor(mnistVqa({ ...DRAWS[d].downstream, n: 200, seed: DEV_SEED }), f));
}
