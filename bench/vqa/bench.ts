/**
 * The benchmark loop: methods x k x seeds, skipping runs already in <out>/results.json and
 * saving after each one, so an interrupted benchmark resumes where it stopped. The report
 * (results.md, accuracy-<setting>.svg) is rewritten at the end.
 */
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Gpu } from '../../src/runtime/device.ts';
import type { Method } from './methods.ts';
import {
  SETTING_NAMES,
  accuracyChart,
  budgetOf,
  curveChart,
  loadResults,
  markdownTable,
  runKey,
  saveResults,
  type ResultFile,
} from './results.ts';
import { loadSettingBackbone, runOne } from './run-one.ts';

export interface BenchOptions {
  methods: Method[];
  ks: number[];
  seeds: number[];
  out: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  checkpoints?: string;
  /** Run only slice `index` (1-based) of `count` of the grid: see gridSlice. */
  shard?: { index: number; count: number };
  /** Scale the protocol's step budget (a budget check); a result file holds one budget only. */
  budget?: number;
}

export interface GridRun {
  m: Method;
  k: number;
  seed: number;
}

/**
 * The grid in run order (seeds outermost: an interrupted benchmark has whole seeds of every method
 * and k), or shard i of n of it: every n-th run from the i-th. The slice depends only on the grid,
 * never on what is already done, so n jobs with the same flags cover it exactly once; dealing runs
 * round-robin keeps the slow methods and large k spread over the shards.
 */
export function gridSlice(o: Pick<BenchOptions, 'methods' | 'ks' | 'seeds' | 'shard'>): GridRun[] {
  const all = o.seeds.flatMap((seed) => o.ks.flatMap((k) => o.methods.map((m) => ({ m, k, seed }))));
  if (!o.shard) return all;
  const { index, count } = o.shard;
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 1 || index > count)
    throw new Error(`bench vqa: --shard ${index}/${count}: expected i/n with 1 <= i <= n`);
  return all.filter((_, i) => i % count === index - 1);
}

export async function writeReport(out: string, f: ResultFile): Promise<void> {
  writeFileSync(join(out, 'results.md'), markdownTable(f));
  for (const setting of SETTING_NAMES) {
    if (Object.values(f.runs).some((r) => r.setting === setting))
      writeFileSync(join(out, `accuracy-${setting}.svg`), await accuracyChart(f, setting));
  }
  // A few runs' learning curves: MixPHM and full finetuning, first seed.
  const first = Object.values(f.runs).find((r) => r.curve && ['mixphm', 'full'].includes(r.method));
  if (first) writeFileSync(join(out, 'curves.svg'), await curveChart(f, ['mixphm', 'full'], first.seed));
}

/** Runs what is missing; returns the result file and how many runs this call finished. */
export async function runBenchmark(gpu: Gpu, o: BenchOptions): Promise<{ results: ResultFile; ran: number }> {
  const log = o.log ?? console.log;
  // Refused before anything is written: a refused call leaves no empty output directory behind.
  const untuned = o.methods.filter((m) => m.tuned === false);
  if (untuned.length)
    throw new Error(
      `bench vqa: ${untuned.map((m) => m.name).join(', ')}: no tuned learning rate yet; run bench/vqa/tune.ts and record its choice in methods.ts first`,
    );
  mkdirSync(o.out, { recursive: true });
  const file = join(o.out, 'results.json');
  const results = loadResults(file);
  const budget = o.budget ?? 1;
  if (Object.keys(results.runs).length && budgetOf(results) !== budget)
    throw new Error(
      `bench vqa: ${file} holds runs with step budget x${budgetOf(results)}, this call asks for x${budget}: give it another --out`,
    );
  if (budget !== 1) results.budget = budget;
  const todo = gridSlice(o).filter((t) => !results.runs[runKey(t.m.name, t.k, t.seed)]);
  const shard = o.shard ? `, shard ${o.shard.index}/${o.shard.count}` : '';
  log(
    `bench vqa: ${todo.length} runs to do (${o.methods.length} methods x k ${o.ks.join(',')} x seeds ${o.seeds.join(',')}${shard}; ${Object.keys(results.runs).length} already in ${file})`,
  );
  const backbones = new Map<string, Record<string, Float32Array>>();
  const t0 = performance.now();
  let ran = 0;
  for (const t of todo) {
    if (o.signal?.aborted) break;
    if (!backbones.has(t.m.setting)) backbones.set(t.m.setting, loadSettingBackbone(t.m.setting, o.checkpoints));
    const r = await runOne(gpu, t.m, t.k, t.seed, backbones.get(t.m.setting)!, { signal: o.signal, budget });
    if (!r) break; // interrupted mid-run: not recorded
    results.runs[runKey(t.m.name, t.k, t.seed)] = r;
    saveResults(file, results);
    ran++;
    const score =
      r.status === 'ok'
        ? `test ${(100 * r.test!.accuracy).toFixed(1)} (dev ${(100 * r.dev!.accuracy).toFixed(1)} @ epoch ${r.dev!.epoch + 1}/${r.epochs})`
        : `DIVERGED: ${r.error}`;
    const eta = ((performance.now() - t0) / 1000 / ran) * (todo.length - ran);
    log(
      `[${ran}/${todo.length}] ${t.m.name} k=${t.k} seed=${t.seed}: ${score}, ${r.seconds.toFixed(0)} s; eta ${(eta / 60).toFixed(0)} min`,
    );
  }
  await writeReport(o.out, results);
  return { results, ran };
}
