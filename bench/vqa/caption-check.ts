/**
 * The captioning setting's gate (issue 35, part 3) before its tuning and grid, in CIDEr-D on the
 * test images (caption-data.ts):
 * - before fine-tuning: the frozen towers with the method's modules as initialized (LoRA's up
 *   projection and the adapter's start at zero, so this is the decoder reading the image
 *   prefix it never learned to read);
 * - the nearest training image's first caption, by pixels (copying the most similar scene);
 * - the ceiling: the method trained on the whole pool (2,000 images, 6,000 captions),
 *   early-stopped on dev CIDEr-D (200 more images), for all its epochs at one rate.
 * A k-shot gain means something only when the ceiling sits well above both floors.
 *
 *   npx tsx bench/vqa/caption-check.ts [--method caption/full] [--lr 3e-4] [--epochs 10] [--patience 10] [--seed 13] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { captionScores } from '../../src/data/caption-metrics.ts';
import { acquireDevice } from '../../src/runtime/device.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { Evaluator } from '../../src/train/trainer.ts';
import { captionCeiling, captionPool, captionTest } from './caption-data.ts';
import { SETTINGS, method } from './methods.ts';
import { BATCH } from './protocol.ts';
import { trainCeiling } from './family-scores.ts';
import { loadSettingBackbone } from './run-one.ts';
import { trainingFlags } from '../flags.ts';

const SETTING = 'caption';
const { values } = parseArgs({
  options: {
    method: { type: 'string', default: `${SETTING}/full` },
    epochs: { type: 'string', default: '10' },
    lr: { type: 'string', default: '3e-4' },
    seed: { type: 'string', default: '13' },
    patience: { type: 'string', default: '10' },
    json: { type: 'string' },
  },
});
const m = method(values.method!);
if (m.setting !== SETTING) throw new Error(`caption-check: '${m.name}' is not a method of '${SETTING}'`);
const spec = m.model().spec;
const c = trainingFlags('caption-check', values);
const seed = c.seed;
const frozen = loadSettingBackbone(SETTING);
const test = captionTest();

// The nearest pool image by pixels, and its first caption.
const pool = captionPool();
const nearest = test.examples.map((e) => {
  const a = e.image as Float32Array;
  let best = 0;
  let bestD = Number.POSITIVE_INFINITY;
  pool.images.forEach((b, j) => {
    let d = 0;
    for (let i = 0; i < a.length; i++) d += (a[i] - b[i]) ** 2;
    if (d < bestD) [best, bestD] = [j, d];
  });
  return pool.captions[best][0];
});
const copied = captionScores(nearest.map((candidate, i) => ({ candidate, references: test.captions[i] }))).CIDEr_D;

const gpu = await acquireDevice();
const t0 = performance.now();
try {
  const ev = await Evaluator.create(gpu, spec, BATCH);
  const infer = lowerModel(spec, { batch: BATCH, mode: 'infer' }).graph;
  ev.setWeights(initialWeights(infer, seed, frozen));
  const before = (await ev.evaluate(test, 'test')).accuracy;
  console.log(
    `${m.name}: before fine-tuning CIDEr-D ${before.toFixed(3)}; nearest training caption ${copied.toFixed(3)}`,
  );
  const { train: all, dev } = captionCeiling();
  const best = await trainCeiling(gpu, spec, { pool: all, dev, frozen }, c, 'dev CIDEr-D');
  ev.setWeights(best.weights);
  const after = await ev.evaluate(test, 'test');
  ev.destroy();
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `ceiling (best dev epoch ${best.bestEpoch}, dev ${best.dev.toFixed(3)}): test CIDEr-D ${after.accuracy.toFixed(3)}, BLEU-4 ${after.exactMatch.toFixed(3)}; ${seconds.toFixed(0)} s`,
  );
  after.captions?.generated
    .slice(0, 3)
    .forEach((g, i) => console.log(`  "${g}" (reference: "${test.captions[i][0]}")`));
  if (values.json)
    writeFileSync(
      values.json,
      `${JSON.stringify({ method: m.name, command: `npx tsx bench/vqa/caption-check.ts ${process.argv.slice(2).join(' ')}`, checkpoints: SETTINGS[SETTING].files, before, nearest: copied, ceiling: { cider: after.accuracy, bleu4: after.exactMatch, dev: best.dev, bestEpoch: best.bestEpoch, lr: c.lr, epochs: c.epochs }, seconds, adapter: gpu.info.description }, null, 2)}\n`,
    );
} finally {
  gpu.destroy();
}
