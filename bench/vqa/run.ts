/**
 * The MNIST-VQA benchmark runner: any subset of methods x k x seeds, resumable.
 *
 *   npm run bench:vqa -- --methods mixphm,lora --k 16,64,1000 --seeds 13,21,42
 *   npm run bench:vqa -- --report          # only rewrite the table and charts
 *   npm run bench:vqa -- --shard 2/8 --out results/shard-2     # one job of a CI matrix
 *   npm run bench:vqa -- --merge --out results results/shard-{1..8}/results.json  # last job: combine
 *   npm run bench:vqa -- --methods encdec/lora --k 1000 --budget 2.5 --out /tmp/long  # a budget check
 *
 * Finished runs are saved to <out>/results.json after each run and skipped by a rerun; Ctrl-C
 * ends the current run at its next epoch boundary without recording it.
 */
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { acquireDevice } from '../../src/runtime/device.ts';
import { KS, SEEDS } from './protocol.ts';
import { METHODS, method } from './methods.ts';
import { loadResults, mergeResults, saveResults } from './results.ts';
import { runBenchmark, writeReport } from './bench.ts';
import { COUNT, POSITIVE, numberFlag, numberList } from '../flags.ts';

const list = (s: string | undefined, all: readonly (string | number)[]) =>
  s && s !== 'all' ? s.split(',').map((x) => x.trim()) : all.map(String);

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      methods: { type: 'string' },
      k: { type: 'string' },
      seeds: { type: 'string' },
      out: { type: 'string', default: join(import.meta.dirname, 'results') },
      report: { type: 'boolean', default: false },
      shard: { type: 'string' },
      merge: { type: 'boolean', default: false },
      budget: { type: 'string' },
    },
    allowPositionals: true,
  });
  const out = values.out!;
  if (values.merge) {
    const f = mergeResults(positionals);
    mkdirSync(out, { recursive: true });
    saveResults(join(out, 'results.json'), f);
    await writeReport(out, f);
    console.log(
      `merged ${Object.keys(f.runs).length} runs from ${positionals.length} files -> ${out}/results.json, results.md, charts`,
    );
    return 0;
  }
  if (values.report) {
    const f = loadResults(join(out, 'results.json'));
    await writeReport(out, f);
    console.log(`wrote ${out}/results.md and charts from ${Object.keys(f.runs).length} runs`);
    return 0;
  }
  // By default every method whose learning rate is fixed (tune.ts chooses the rest first).
  const methods = list(
    values.methods,
    METHODS.filter((m) => m.tuned !== false).map((m) => m.name),
  ).map(method);
  const ks = values.k && values.k !== 'all' ? numberList('bench vqa', 'k', values.k, COUNT) : [...KS];
  // A seed is any whole number: the reporting seeds are the default, another is a user's choice.
  const seeds =
    values.seeds && values.seeds !== 'all'
      ? numberList('bench vqa', 'seeds', values.seeds, { integer: true, min: 0 })
      : [...SEEDS];
  for (const k of ks)
    if (!(KS as readonly number[]).includes(k))
      throw new Error(`bench vqa: k=${k} is not one of the protocol's ${KS.join(', ')}`);
  const m = values.shard?.match(/^(\d+)\/(\d+)$/);
  if (values.shard && !m) throw new Error(`bench vqa: --shard ${values.shard}: expected i/n, e.g. 2/8`);
  const shard = m ? { index: Number(m[1]), count: Number(m[2]) } : undefined;
  // The protocol's step budget times it.
  const budget = values.budget === undefined ? undefined : numberFlag('bench vqa', 'budget', values.budget, POSITIVE);
  const abort = new AbortController();
  process.once('SIGINT', () => {
    console.log('\ninterrupted: stopping at the end of this epoch; finished runs are saved');
    abort.abort();
  });
  const gpu = await acquireDevice();
  const t0 = performance.now();
  try {
    await runBenchmark(gpu, { methods, ks, seeds, out, signal: abort.signal, shard, budget });
  } finally {
    gpu.destroy();
  }
  console.log(
    `wrote ${out}/results.json, results.md, accuracy-*.svg (${((performance.now() - t0) / 60000).toFixed(1)} min)`,
  );
  return abort.signal.aborted ? 130 : 0;
}

process.exitCode = await main();
