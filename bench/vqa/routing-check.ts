/**
 * The near routing setting's gate (issue 35) before its tuning and grid: a method of the setting
 * trained on the whole alignment pool (near.ts ALIGN_FAMILIES, 2,000 questions), early-stopped on
 * 200 more, scored per family on the test set, beside the family-prior floor. The towers were
 * pretrained apart and the head is new, so there is no zero-shot score: the floor is where a
 * model that ignores the image starts. Full finetuning's ceiling must reach 0.85; LoRA's own
 * ceiling says how much room a routing function has to show a gain.
 *
 *   npx tsx bench/vqa/routing-check.ts [--method near-routing/full] [--lr 3e-4] [--epochs 20] [--patience 20] [--seed 13] [--pool 2000] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { acquireDevice } from '../../src/runtime/device.ts';
import { ceilingRun, printScores } from './family-scores.ts';
import { SETTINGS, method } from './methods.ts';
import { NEAR_POOL, nearCeilingDev, nearPool, nearTest } from './near.ts';
import { familyPriorAccuracy } from './protocol.ts';
import { loadSettingBackbone } from './run-one.ts';
import { numberFlag, trainingFlags } from '../flags.ts';

const SETTING = 'near-routing';
const { values } = parseArgs({
  options: {
    method: { type: 'string', default: `${SETTING}/full` },
    epochs: { type: 'string', default: '20' },
    lr: { type: 'string', default: '3e-4' },
    seed: { type: 'string', default: '13' },
    patience: { type: 'string', default: '20' },
    json: { type: 'string' },
    // The gate's question of data: the same draw extended past the pool (never a k-shot run's).
    pool: { type: 'string', default: String(NEAR_POOL) },
  },
});
const m = method(values.method!);
if (m.setting !== SETTING) throw new Error(`routing-check: '${m.name}' is not a method of '${SETTING}'`);
const { flavor, data } = SETTINGS[SETTING];
if (data !== 'near-align') throw new Error(`routing-check: '${SETTING}' reads ${data}, not the alignment data`);
const frozen = loadSettingBackbone(SETTING);
const c = trainingFlags('routing-check', values);
const poolSize = numberFlag('routing-check', 'pool', values.pool!, { integer: true, min: NEAR_POOL });
const pool = nearPool(flavor, data, poolSize);
const floor = familyPriorAccuracy(data);
const gpu = await acquireDevice();
const t0 = performance.now();
try {
  console.log(
    `${m.name} on ${poolSize === NEAR_POOL ? 'the whole alignment pool' : 'the alignment pool extended'} (${pool.examples.length}), lr ${c.lr}, ${c.epochs} epochs; floor ${floor.toFixed(3)}`,
  );
  const r = await ceilingRun(
    gpu,
    m.model().spec,
    { pool, dev: nearCeilingDev(flavor, data), test: nearTest(flavor, data), frozen },
    c,
  );
  printScores(`ceiling (best dev epoch ${r.bestEpoch}, dev ${r.dev.toFixed(3)})`, r);
  const seconds = (performance.now() - t0) / 1000;
  console.log(`${seconds.toFixed(0)} s`);
  if (values.json)
    writeFileSync(
      values.json,
      `${JSON.stringify({ method: m.name, command: `npx tsx bench/vqa/routing-check.ts ${process.argv.slice(2).join(' ')}`, checkpoints: SETTINGS[SETTING].files, pool: poolSize, floor, ceiling: r, seconds, adapter: gpu.info.description }, null, 2)}\n`,
    );
} finally {
  gpu.destroy();
}
