/**
 * Issue 35's gate before any near-transfer grid runs: a pretrained backbone's zero-shot score on
 * the near-transfer test set (near.ts), next to its score on the pretraining distribution and the
 * family-prior floor, then the ceiling: full finetuning on the whole downstream pool (2,000
 * questions), early-stopped on 200 more, scored on the test set. The grid needs a ceiling of at
 * least 0.85 and a zero-shot score well below it.
 *
 *   npx tsx bench/vqa/near-check.ts bench/vqa/checkpoints/hf-near-joint.safetensors [--epochs 20] [--lr 5e-4] [--patience 5] [--seed 13] [--json out.json]
 *
 * The model (the joint VL model, or the VL-T5 encoder-decoder) comes from the checkpoint's
 * metadata, as in families.ts.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { peft } from '../../src/dsl/index.ts';
import { acquireDevice } from '../../src/runtime/device.ts';
import { ceilingRun, printScores, scoreSet } from './family-scores.ts';
import { backbone, flavorOf, jointOf, vlT5 } from './model.ts';
import { mnistVqa } from './mnist-vqa.ts';
import { NEAR_PRETRAIN, nearCeilingDev, nearPool, nearTest } from './near.ts';
import { asFlavor } from './flavor.ts';
import { familyPriorAccuracy } from './protocol.ts';
import { loadBackbone } from './weights.ts';
import { trainingFlags } from '../flags.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    epochs: { type: 'string', default: '20' },
    lr: { type: 'string', default: '5e-4' },
    seed: { type: 'string', default: '13' },
    patience: { type: 'string', default: '5' },
    json: { type: 'string' },
    'zero-shot-only': { type: 'boolean', default: false },
  },
});
const path = positionals[0];
if (!path) throw new Error('near-check: name a backbone checkpoint (bench/vqa/pretrain.ts ... --data near)');
const { weights, meta } = loadBackbone(path);
if (meta.data !== 'near')
  throw new Error(
    `near-check: ${path} was not pretrained on the near-transfer data (metadata data=${meta.data ?? 'none'})`,
  );
const flavor = flavorOf(meta, path);
const base = flavor === 't5' ? vlT5() : backbone(flavor, jointOf(meta, path));
const c = trainingFlags('near-check', values);
const gpu = await acquireDevice();
const t0 = performance.now();
try {
  const test = nearTest(flavor);
  // The pretraining distribution's own held-out questions (test-split digits, pretraining templates).
  const inDist = asFlavor(mnistVqa({ ...NEAR_PRETRAIN, split: 'test', n: 1000, seed: 8004 }), flavor);
  const floorScore = familyPriorAccuracy('near');
  console.log(
    `${path}: ${flavor === 't5' ? 'VL-T5 encoder-decoder' : `joint ${flavor} model`}; floor ${floorScore.toFixed(3)}`,
  );
  const pretrained = await scoreSet(gpu, base.spec, weights, inDist);
  printScores('pretraining distribution, held-out digits (pretraining templates)', pretrained);
  const zeroShot = await scoreSet(gpu, base.spec, weights, test);
  printScores('zero-shot on the near-transfer test set', zeroShot);
  let ceiling: Awaited<ReturnType<typeof ceilingRun>> | undefined;
  if (!values['zero-shot-only']) {
    console.log(
      `ceiling: full finetuning on the whole pool (${nearPool(flavor).examples.length}), lr ${c.lr}, ${c.epochs} epochs`,
    );
    ceiling = await ceilingRun(
      gpu,
      base.insert(peft.full()).spec,
      { pool: nearPool(flavor), dev: nearCeilingDev(flavor), test, frozen: weights },
      c,
    );
    printScores(`ceiling (best dev epoch ${ceiling.bestEpoch}, dev ${ceiling.dev.toFixed(3)})`, ceiling);
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(`${seconds.toFixed(0)} s`);
  if (values.json)
    writeFileSync(
      values.json,
      `${JSON.stringify({ checkpoint: path, command: `npx tsx bench/vqa/near-check.ts ${process.argv.slice(2).join(' ')}`, floor: floorScore, pretrained, zeroShot, ceiling, seconds, adapter: gpu.info.description }, null, 2)}\n`,
    );
} finally {
  gpu.destroy();
}
