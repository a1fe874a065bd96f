/**
 * The low-resource protocol (METHODS.md, "Training protocol"), at this machine's scale:
 * a downstream training pool and a fixed test set; each seed draws k training examples and a
 * dev set of k more from the pool; AdamW (eps 1e-6, weight decay 0.01 except biases and norms),
 * linear schedule with 5% warmup, clipping 5, batch 16, early stopping on dev VQA accuracy;
 * the best dev checkpoint is scored on the test set.
 *
 * The step budget: a run is round(600 / steps per epoch) epochs, at least 10 and at most 300
 * (300 steps at k=16, 600 at k=32, 64 and 100, 589 at k=500, 620 at k=1000), evaluated on
 * dev about 20 times (every epoch when a run has fewer than 20), stopping after 5 evaluations
 * without improvement.
 * Issue 8's budget (about 200 steps, patience 3) stopped runs at large k while dev accuracy was
 * still rising: MixPHM at k=1000 (seed 13, `curve.ts`) reached dev 0.452 at its step 186 and
 * 0.49-0.52 from step 250 to 1,240; the budget was set from that dev curve, before any test
 * score of the new backbone's grid was seen.
 */
import { shuffled, type Dataset } from '../../src/runtime/batches.ts';
import type { TrainConfig } from '../../src/train/trainer.ts';
import { DOWNSTREAM_FAMILIES, mnistVqa, type MnistVqaSet } from './mnist-vqa.ts';
import { asFlavor } from './flavor.ts';
import type { Flavor } from './model.ts';
import { NEAR_POOL, nearPool, nearTest, type NearData } from './near.ts';
import { captionDraw, captionTest } from './caption-data.ts';

/**
 * Issue 19's far-transfer data (default), issue 35's near transfer (near.ts: every family, or the
 * routing setting's alignment families), or its captioning data (caption-data.ts: k counts images).
 */
export type Data = 'far' | NearData | 'caption';

export const KS = [16, 32, 64, 100, 500, 1000] as const;
export const SEEDS = [13, 21, 42, 87, 100] as const;
export { BATCH } from './batch.ts';
/** The protocol's optimizer and schedule (pretraining uses the same). */
export const OPTIMIZATION = {
  optimizer: { kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 },
  schedule: { kind: 'linear', warmup: 0.05 },
} as const satisfies Pick<TrainConfig, 'optimizer' | 'schedule'>;
const POOL = 2000; // 2 x the largest k: train and dev never overlap
const POOL_SEED = 7001;
const TEST_SEED = 7002;
export const TEST_SIZE = 500;

const pools = new Map<Flavor, MnistVqaSet>();
const tests = new Map<Flavor, MnistVqaSet>();

/** The downstream training pool, tokenized for models of flavor `f` (the same questions for every flavor). */
export function downstreamPool(f: Flavor = 'native'): MnistVqaSet {
  if (!pools.has(f))
    pools.set(f, asFlavor(mnistVqa({ split: 'train', families: DOWNSTREAM_FAMILIES, n: POOL, seed: POOL_SEED }), f));
  return pools.get(f)!;
}

/** What a run is scored on: the VQA test set (testSet), or the captioning setting's test images. */
export function testData(f: Flavor, data: Data = 'far'): Dataset {
  return data === 'caption' ? captionTest() : testSet(f, data);
}

/** The fixed test set: downstream questions about scenes of held-out digit samples. */
export function testSet(f: Flavor = 'native', data: Exclude<Data, 'caption'> = 'far'): MnistVqaSet {
  if (data !== 'far') return nearTest(f, data);
  if (!tests.has(f))
    tests.set(
      f,
      asFlavor(mnistVqa({ split: 'test', families: DOWNSTREAM_FAMILIES, n: TEST_SIZE, seed: TEST_SEED }), f),
    );
  return tests.get(f)!;
}

/** The seed's draw: k training and k dev examples, disjoint, from the pool. */
export function draw(
  k: number,
  seed: number,
  f: Flavor = 'native',
  data: Data = 'far',
): { train: Dataset; dev: Dataset } {
  if (data === 'caption') return captionDraw(k, seed);
  const size = data !== 'far' ? NEAR_POOL : POOL;
  if (2 * k > size) throw new Error(`k=${k} needs ${2 * k} pool examples, the pool has ${size}`);
  const p = data !== 'far' ? nearPool(f, data) : downstreamPool(f);
  const order = shuffled(size, seed);
  // Generated answers are scored from the pool's per-question scores (the encoder-decoder's sets).
  const pick = (idx: number[]): Dataset => ({
    examples: idx.map((i) => p.examples[i]),
    ...(p.answers ? { answers: { ...p.answers, scores: idx.map((i) => p.answers!.scores[i]) } } : {}),
  });
  return { train: pick(order.slice(0, k)), dev: pick(order.slice(k, 2 * k)) };
}

export { schedule } from './schedule.ts';

/**
 * The floor to read results against: answer every test question with its family's most common
 * answer in the training pool (a model that ignores the image can reach this).
 */
export function familyPriorAccuracy(data: Data = 'far'): number {
  if (data === 'caption')
    throw new Error('bench vqa: captions have no family prior (their floor is CIDEr-D before fine-tuning)');
  return familyPrior(data !== 'far' ? nearPool('native', data) : downstreamPool(), testSet('native', data));
}

/** That floor for any training set `p` and test set `t` (e.g. the example's files, examples/mnist-vqa/make.ts). */
export function familyPrior(p: MnistVqaSet, t: MnistVqaSet): number {
  const totals = new Map<string, Float64Array>();
  p.questions.forEach((q, i) => {
    const t = totals.get(q.family) ?? new Float64Array(p.examples[i].targets.length);
    p.examples[i].targets.forEach((v, a) => (t[a] += v));
    totals.set(q.family, t);
  });
  let score = 0;
  t.questions.forEach((q, i) => {
    const s = totals.get(q.family)!;
    score += t.examples[i].targets[s.indexOf(Math.max(...s))];
  });
  return score / t.questions.length;
}
