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
import { acquireDevice } from '../../src/runtime/device.ts';
import { DOWNSTREAM_FAMILIES, mnistVqa } from './mnist-vqa.ts';
import { ceilingRun, printScores } from './family-scores.ts';
import { SETTINGS, method, type Setting } from './methods.ts';
import { downstreamPool, familyPriorAccuracy, testSet } from './protocol.ts';
import { loadSettingBackbone } from './run-one.ts';
import { asFlavor } from './flavor.ts';
import { POSITIVE, numberFlag } from '../flags.ts';

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
// The far pool only: each near setting has its own gate (near-check, routing-check, caption-check).
if (SETTINGS[setting].data)
  throw new Error(
    `ceiling: setting '${setting}' reads ${SETTINGS[setting].data} data; its gate is near-check.ts, routing-check.ts or caption-check.ts`,
  );
const { flavor } = SETTINGS[setting];
const m = values.method === 'full' ? undefined : method(values.method!);
if (m && m.setting !== setting)
  throw new Error(`ceiling: method '${m.name}' belongs to setting '${m.setting}', not '${setting}'`);
const spec = m ? m.model().spec : SETTINGS[setting].backbone().insert(peft.full()).spec;
const lr = values.lr === undefined ? (m?.lr ?? 5e-4) : numberFlag('ceiling', 'lr', values.lr, POSITIVE);
const frozen = loadSettingBackbone(setting);
const seed = numberFlag('ceiling', 'seed', values.seed!, { integer: true, min: 0 });
const epochs = numberFlag('ceiling', 'epochs', values.epochs!, { integer: true, min: 1 });
const dev = asFlavor(mnistVqa({ split: 'train', families: DOWNSTREAM_FAMILIES, n: 200, seed: 7003 }), flavor);
const gpu = await acquireDevice();
const t0 = performance.now();
try {
  console.log(
    `ceiling: ${m ? m.name : 'full finetuning'} of '${setting}' on the whole pool (${downstreamPool(flavor).examples.length} questions), ${epochs} epochs, lr ${lr}, seed ${seed}`,
  );
  const r = await ceilingRun(
    gpu,
    spec,
    { pool: downstreamPool(flavor), dev, test: testSet(flavor), frozen },
    { epochs, lr, seed, patience: 5 },
  );
  console.log(
    `best dev epoch ${r.bestEpoch} (dev ${r.dev.toFixed(3)}); ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  printScores(`test VQA accuracy (floor ${familyPriorAccuracy().toFixed(3)}), per family`, r);
} finally {
  gpu.destroy();
}
