/**
 * Equal tuning before any grid runs (issue 35, part 2): every method, full finetuning included,
 * over the same small learning-rate grid, the same step budget and k, on a tuning seed that is
 * not a reporting seed, chosen on dev accuracy only (tuning runs are given no test split). The
 * choice is written to tuning.json beside the grid's results, and the grid reads it: each run
 * records the learning rate it used, and the tuning's hash is bound to the results.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pickRate } from '../vqa/tuning.ts';
import { bestDev, runTrain, type TrainRun } from './cell.ts';

export const TUNING_FORMAT = 'peftgraph-vqav2-tuning-1';

export interface Tuning {
  format: typeof TUNING_FORMAT;
  /** What the tuning ran: k, seed, the learning rates, and the configuration it shares with the grid. */
  setup: Record<string, string | number>;
  /** Best dev accuracy per method and learning rate (null: the run failed). */
  dev: Record<string, Record<string, number | null>>;
  errors: Record<string, string>;
  /** The learning rate each method's grid runs use. */
  chosen: Record<string, number>;
}

export const tuningHash = (t: Tuning) =>
  createHash('sha256')
    .update(JSON.stringify([t.setup, t.chosen]))
    .digest('hex')
    .slice(0, 16);

export function readTuning(path: string): Tuning | undefined {
  if (!existsSync(path)) return undefined;
  const t = JSON.parse(readFileSync(path, 'utf8')) as Tuning;
  if (t.format !== TUNING_FORMAT)
    throw new Error(`${path}: format ${JSON.stringify(t.format)}, expected ${TUNING_FORMAT}`);
  return t;
}

export interface TuneRequest {
  methods: string[];
  lrs: number[];
  k: number;
  seed: number;
  setup: Record<string, string | number>;
  run(method: string, lr: number): Omit<TrainRun, 'test'>;
  log(line: string): void;
}

/** Runs every method at every learning rate; the one with the best dev accuracy wins (ties: the smaller rate; bench/vqa/tuning.ts pickRate). */
export function tune(r: TuneRequest): Tuning {
  const dev: Tuning['dev'] = {};
  const errors: Tuning['errors'] = {};
  const chosen: Tuning['chosen'] = {};
  for (const m of r.methods) {
    dev[m] = {};
    for (const lr of r.lrs) {
      const run = r.run(m, lr);
      const out = runTrain(run);
      if (!out.ok && out.interrupted) throw new Error('interrupted: the tuning is not written');
      dev[m][String(lr)] = out.ok ? bestDev(run.dir) : null;
      if (!out.ok) errors[`${m}@${lr}`] = out.error;
      r.log(
        `tune ${m} lr=${lr}: ${out.ok ? `best dev ${(100 * dev[m][String(lr)]!).toFixed(1)}` : `failed (${out.error})`}`,
      );
    }
    const pick = pickRate(r.lrs, (lr) => (dev[m][String(lr)] === null ? null : { dev: dev[m][String(lr)]! }));
    if (!pick) throw new Error(`tuning: every learning rate of ${m} failed (${Object.values(errors).at(-1)})`);
    chosen[m] = pick.lr;
  }
  return {
    format: TUNING_FORMAT,
    setup: { ...r.setup, k: r.k, seed: r.seed, lrs: r.lrs.join(',') },
    dev,
    errors,
    chosen,
  };
}

export function writeTuning(dir: string, t: Tuning): void {
  writeFileSync(join(dir, 'tuning.json'), `${JSON.stringify(t, null, 1)}\n`);
  const lrs = String(t.setup.lrs).split(',');
  writeFileSync(
    join(dir, 'tuning.md'),
    [
      `# Tuning: best dev VQA accuracy (%), k = ${t.setup.k}, seed ${t.setup.seed} (not a reporting seed); no test split was read`,
      '',
      `| method | ${lrs.map((lr) => `lr ${lr}`).join(' | ')} | chosen |`,
      `| --- | ${lrs.map(() => '---').join(' | ')} | --- |`,
      ...Object.entries(t.dev).map(
        ([m, row]) =>
          `| ${m} | ${lrs.map((lr) => (row[lr] === null ? 'failed' : (100 * row[lr]!).toFixed(1))).join(' | ')} | ${t.chosen[m]} |`,
      ),
      '',
    ].join('\n'),
  );
}
