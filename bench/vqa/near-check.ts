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
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { acquireDevice, type Gpu } from '../../src/runtime/device.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { Evaluator, train } from '../../src/train/trainer.ts';
import type { ModelSpec } from '../../src/dsl/spec.ts';
import { familyScores } from './family-scores.ts';
import { backbone, jointOf, vlT5, type Flavor } from './model.ts';
import { mnistVqa, type MnistVqaSet } from './mnist-vqa.ts';
import { NEAR_PRETRAIN, nearCeilingDev, nearPool, nearTest } from './near.ts';
import { asFlavor } from './flavor.ts';
import { BATCH, OPTIMIZATION, familyPriorAccuracy } from './protocol.ts';
import { loadBackbone } from './weights.ts';

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
const flavor = (meta.flavor ?? 'native') as Flavor;
const base = flavor === 't5' ? vlT5() : backbone(flavor, jointOf(meta));
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** Overall and per-family VQA accuracy of `spec` with `w` on `ds`. */
async function scores(gpu: Gpu, spec: ModelSpec, w: Record<string, Float32Array>, ds: MnistVqaSet) {
  const ev = await Evaluator.create(gpu, spec, 50);
  try {
    ev.setWeights(w);
    const per = await familyScores(ev, ds);
    return {
      overall: mean([...per.values()].flat()),
      families: Object.fromEntries([...per].map(([f, v]) => [f, { score: mean(v), n: v.length }])),
    };
  } finally {
    ev.destroy();
  }
}

const print = (name: string, r: { overall: number; families: Record<string, { score: number; n: number }> }) => {
  console.log(`${name}: ${r.overall.toFixed(3)}`);
  for (const [f, v] of Object.entries(r.families)) console.log(`  ${f.padEnd(18)} ${v.score.toFixed(3)}  (${v.n})`);
};

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
  const pretrained = await scores(gpu, base.spec, weights, inDist);
  print('pretraining distribution, held-out digits (pretraining templates)', pretrained);
  const zeroShot = await scores(gpu, base.spec, weights, test);
  print('zero-shot on the near-transfer test set', zeroShot);
  let ceiling:
    | (Awaited<ReturnType<typeof scores>> & {
        bestEpoch: number;
        dev: number;
        lr: number;
        epochs: number;
        patience: number;
      })
    | undefined;
  if (!values['zero-shot-only']) {
    const spec = base.insert(peft.full()).spec;
    const seed = Number(values.seed);
    const cfg = {
      epochs: Number(values.epochs),
      batch: BATCH,
      lr: Number(values.lr),
      seed,
      ...OPTIMIZATION,
      evalEvery: 1,
      patience: Number(values.patience),
      minDelta: 0,
      backbone: weights,
    };
    console.log(
      `ceiling: full finetuning on the whole pool (${nearPool(flavor).examples.length}), lr ${cfg.lr}, ${cfg.epochs} epochs`,
    );
    const res = await train(gpu, spec, { train: nearPool(flavor), dev: nearCeilingDev(flavor) }, cfg, {
      onEpoch: (r) =>
        console.log(
          `  epoch ${r.epoch + 1}: train loss ${r.loss.toFixed(4)}, dev ${r.dev?.accuracy.toFixed(3) ?? '-'}`,
        ),
    });
    const tuned = initialWeights(lowerModel(spec, { batch: 50, mode: 'infer' }).graph, seed, {
      ...weights,
      ...res.bestWeights,
    });
    ceiling = {
      ...(await scores(gpu, spec, tuned, test)),
      bestEpoch: res.best!.epoch + 1,
      dev: res.best!.accuracy,
      lr: cfg.lr,
      epochs: cfg.epochs,
      patience: cfg.patience,
    };
    print(`ceiling (best dev epoch ${ceiling.bestEpoch}, dev ${ceiling.dev.toFixed(3)})`, ceiling);
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
