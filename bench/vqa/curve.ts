/**
 * One method's dev learning curve with a long budget and no early stopping: how many steps a run
 * needs before dev accuracy stops rising, which is what the protocol's step budget
 * (protocol.ts schedule) must allow. Dev only: the test set is not touched.
 *
 *   npx tsx bench/vqa/curve.ts --method mixphm --k 1000 --seed 13 --epochs 30
 */
import { parseArgs } from 'node:util';
import { acquireDevice } from '../../src/runtime/device.ts';
import { train } from '../../src/train/trainer.ts';
import { SETTINGS, method } from './methods.ts';
import { BATCH, OPTIMIZATION, draw } from './protocol.ts';
import { loadSettingBackbone } from './run-one.ts';
import { numberFlag } from '../flags.ts';

const { values } = parseArgs({
  options: {
    method: { type: 'string', default: 'mixphm' },
    k: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '13' },
    epochs: { type: 'string', default: '30' },
  },
});
const m = method(values.method!);
const count = (flag: 'k' | 'seed' | 'epochs', min: number) =>
  numberFlag('curve', flag, values[flag]!, { integer: true, min });
const [k, seed, epochs] = [count('k', 1), count('seed', 0), count('epochs', 1)];
const gpu = await acquireDevice();
const t0 = performance.now();
try {
  console.log(
    `curve: ${m.name} k=${k} seed ${seed}, ${epochs} epochs of ${Math.floor(k / BATCH)} steps, lr ${m.lr}, dev evaluated every epoch`,
  );
  await train(
    gpu,
    m.model().spec,
    draw(k, seed, SETTINGS[m.setting].flavor, SETTINGS[m.setting].data),
    {
      epochs,
      batch: BATCH,
      lr: m.lr,
      seed,
      ...OPTIMIZATION,
      evalEvery: 1,
      patience: 0,
      minDelta: 0,
      backbone: loadSettingBackbone(m.setting),
    },
    {
      onEpoch: (r) =>
        console.log(
          `  epoch ${r.epoch + 1} step ${r.step}: train loss ${r.loss.toFixed(4)}, dev accuracy ${r.dev?.accuracy.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        ),
    },
  );
} finally {
  gpu.destroy();
}
