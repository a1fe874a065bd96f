/**
 * Equal tuning before a grid (issue 35, part 2): every method of a setting, full finetuning
 * included, trained at each learning rate of one grid with the protocol's step budget, on a
 * tuning seed that is not a reporting seed, and selected on dev only (runOne's devOnly: the test
 * set is never scored). Each run is saved as it ends, so a rerun resumes; other settings in the
 * same file are refused, except the same tuning with more rates (its runs are kept). The choice (best dev; a tie goes to the higher mean dev, then the
 * smaller rate: tuning.ts choose) is printed and
 * written beside the runs, to be recorded in methods.ts before the grid runs.
 *
 *   npx tsx bench/vqa/tune.ts --setting near [--lrs 5e-4,1.5e-3,5e-3] [--k 100] [--seed 1] [--methods a,b] [--out FILE]
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeAtomic } from '../../src/runtime/safetensors.ts';
import { acquireDevice } from '../../src/runtime/device.ts';
import { METHODS, SETTINGS, method, type Setting } from './methods.ts';
import { KS, SEEDS } from './protocol.ts';
import { loadSettingBackbone, runOne } from './run-one.ts';
import { choose, readTuningFile, tuningKey, tuningReport, type TuningFile } from './tuning.ts';
import { POSITIVE, numberFlag, numberList } from '../flags.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      setting: { type: 'string', default: 'near' },
      lrs: { type: 'string', default: '5e-4,1.5e-3,5e-3' },
      k: { type: 'string', default: '100' },
      seed: { type: 'string', default: '1' },
      methods: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const setting = values.setting as Setting;
  if (!SETTINGS[setting])
    throw new Error(`tune: --setting '${values.setting}' (valid: ${Object.keys(SETTINGS).join(', ')})`);
  const lrs = numberList('tune', 'lrs', values.lrs!, POSITIVE);
  const k = numberFlag('tune', 'k', values.k!, { integer: true });
  if (!(KS as readonly number[]).includes(k)) throw new Error(`tune: --k ${values.k} is not one of ${KS.join(', ')}`);
  const seed = numberFlag('tune', 'seed', values.seed!, { integer: true, min: 0 });
  if ((SEEDS as readonly number[]).includes(seed))
    throw new Error(
      `tune: --seed ${values.seed}: a tuning seed must be an integer outside the reporting seeds ${SEEDS.join(', ')}`,
    );
  const methods = values.methods
    ? values.methods.split(',').map((n) => method(n.trim()))
    : METHODS.filter((m) => m.setting === setting);
  const wrong = methods.filter((m) => m.setting !== setting);
  if (wrong.length) throw new Error(`tune: ${wrong.map((m) => m.name).join(', ')} not in setting '${setting}'`);
  const out = values.out ?? join(import.meta.dirname, 'results', `tuning-${setting}.json`);
  const config = { setting, lrs, k, seed };
  const file: TuningFile = existsSync(out)
    ? readTuningFile(out)
    : { format: 'peftgraph-bench-vqa-tuning-1', config, runs: {} };
  // The same tuning with more rates keeps its runs (a grid extended where a method chose its edge).
  const { lrs: had, ...same } = file.config;
  if (JSON.stringify(same) !== JSON.stringify({ setting, k, seed }) || !had.every((x) => lrs.includes(x)))
    throw new Error(
      `tune: ${out} holds a tuning with ${JSON.stringify(file.config)}, not ${JSON.stringify(config)} or a grid containing its rates: give another --out`,
    );
  file.config = config;
  const frozen = loadSettingBackbone(setting);
  const gpu = await acquireDevice();
  try {
    for (const m of methods)
      for (const lr of lrs) {
        if (file.runs[tuningKey(m.name, lr)]) continue;
        const r = await runOne(gpu, { ...m, lr }, k, seed, frozen, { devOnly: true });
        if (!r) return;
        file.runs[tuningKey(m.name, lr)] = {
          method: m.name,
          lr,
          status: r.status,
          dev: r.dev?.accuracy,
          meanDev: r.curve?.length ? r.curve.reduce((a, c) => a + c.dev, 0) / r.curve.length : undefined,
          epoch: r.dev?.epoch,
          steps: r.steps,
          seconds: +r.seconds.toFixed(1),
        };
        writeAtomic(out, Buffer.from(`${JSON.stringify(file, null, 2)}\n`));
        console.log(
          `${m.name} lr ${lr}: ${r.status === 'ok' ? `dev ${r.dev!.accuracy.toFixed(4)} (epoch ${r.dev!.epoch + 1})` : 'diverged'}, ${r.seconds.toFixed(0)} s`,
        );
      }
  } finally {
    gpu.destroy();
  }
  const names = methods.map((m) => m.name);
  writeFileSync(out.replace(/\.json$/, '.md'), tuningReport(file, names));
  for (const [m, c] of choose(file, names))
    console.log(`${m}: ${c ? `lr ${c.lr} (dev ${c.dev.toFixed(4)})` : 'no run finished'}`);
}

await main();
