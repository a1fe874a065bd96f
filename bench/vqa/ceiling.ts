/**
 * The ceiling check of issue 19: full finetuning (or another method of the setting) of a
 * setting's backbone on the whole downstream pool (all 2,000 questions, not k), early-stopped on
 * a dev set of 200 more questions about training-split digits, scored per family on the
 * benchmark's test set. k-shot differences only mean something when this ceiling sits well above
 * the floor (each family's most common answer).
 *
 *   npx tsx bench/vqa/ceiling.ts [--setting vl] [--method full] [--epochs 20] [--lr <the method's>] [--seed 13]
 */
import { parseArgs } from 'node:util';
import { peft } from '../../src/dsl/index.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { acquireDevice } from '../../src/runtime/device.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { Evaluator, train } from '../../src/train/trainer.ts';
import { DOWNSTREAM_FAMILIES, mnistVqa } from './mnist-vqa.ts';
import { familyScores } from './family-scores.ts';
import { SETTINGS, method, type Setting } from './methods.ts';
import { BATCH, OPTIMIZATION, downstreamPool, familyPriorAccuracy, testSet } from './protocol.ts';
import { loadSettingBackbone } from './run-one.ts';
import { asFlavor } from './flavor.ts';

const { values } = parseArgs({
  options: {
    setting: { type: 'string', default: 'vl' },
    epochs: { type: 'string', default: '20' },
    method: { type: 'string', default: 'full' },
    lr: { type: 'string' },
    seed: { type: 'string', default: '13' },
  },
});
const setting = values.setting as Setting;
if (!SETTINGS[setting])
  throw new Error(`ceiling: --setting '${values.setting}' (valid: ${Object.keys(SETTINGS).join(', ')})`);
if (SETTINGS[setting].data === 'near')
  throw new Error(`ceiling: setting '${setting}' is near transfer: its gate is bench/vqa/near-check.ts`);
const { flavor } = SETTINGS[setting];
const m = values.method === 'full' ? undefined : method(values.method!);
if (m && m.setting !== setting)
  throw new Error(`ceiling: method '${m.name}' belongs to setting '${m.setting}', not '${setting}'`);
const spec = m ? m.model().spec : SETTINGS[setting].backbone().insert(peft.full()).spec;
const lr = Number(values.lr ?? m?.lr ?? 5e-4);
const frozen = loadSettingBackbone(setting);
const seed = Number(values.seed);
const dev = asFlavor(mnistVqa({ split: 'train', families: DOWNSTREAM_FAMILIES, n: 200, seed: 7003 }), flavor);
const test = testSet(flavor);
const gpu = await acquireDevice();
const t0 = performance.now();
try {
  const epochs = Number(values.epochs);
  console.log(
    `ceiling: ${m ? m.name : 'full finetuning'} of '${setting}' on the whole pool (${downstreamPool(flavor).examples.length} questions), ${epochs} epochs, lr ${lr}, seed ${seed}`,
  );
  const res = await train(
    gpu,
    spec,
    { train: downstreamPool(flavor), dev },
    {
      epochs,
      batch: BATCH,
      lr,
      seed,
      ...OPTIMIZATION,
      evalEvery: 1,
      patience: 5,
      minDelta: 0,
      backbone: frozen,
    },
    {
      onEpoch: (r) =>
        console.log(
          `epoch ${r.epoch + 1}: train loss ${r.loss.toFixed(4)}, dev accuracy ${r.dev ? r.dev.accuracy.toFixed(3) : '-'}`,
        ),
    },
  );
  const ev = await Evaluator.create(gpu, spec, 50);
  ev.setWeights(
    initialWeights(lowerModel(spec, { batch: 50, mode: 'infer' }).graph, seed, { ...frozen, ...res.bestWeights }),
  );
  const per = await familyScores(ev, test);
  ev.destroy();
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const all = [...per.values()].flat();
  console.log(
    `best dev epoch ${res.best!.epoch + 1} (dev ${res.best!.accuracy.toFixed(3)}); ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  console.log(`test VQA accuracy ${mean(all).toFixed(3)} (floor ${familyPriorAccuracy().toFixed(3)}), per family:`);
  for (const [f, v] of per) console.log(`  ${f.padEnd(18)} ${mean(v).toFixed(3)}  (${v.length})`);
} finally {
  gpu.destroy();
}
