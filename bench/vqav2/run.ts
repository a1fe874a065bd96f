/**
 * MixPHM's low-resource protocol on VQAv2 for a user with a GPU runner: every method of
 * methods.ts x k x seed, each cell one `peftgraph train` run on the seed's k-shot draw of the
 * training split (k more for dev, METHODS.md), scored on the test split by its best dev
 * checkpoint. Resumable (finished cells are skipped), sharded over a CI matrix, merged at the end.
 *
 *   npx tsx bench/vqav2/run.ts --train vqav2/train2014 --test vqav2/val2014 --vision vit-base --text bert-base
 *   npx tsx bench/vqav2/run.ts ... --shard 3/8 --out results/shard-3      # one job of a matrix
 *   npx tsx bench/vqav2/run.ts --merge --out results results/shard-*\/results.json
 *
 * A split directory holds one VQAv2 *questions*.json, its *annotations*.json and the COCO image
 * folder (bench/vqav2/README.md). The step budget is MNIST-VQA's (bench/vqa/schedule.ts).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { runTrain, trainArgs, type TrainRun } from './cell.ts';
import { sibling } from '../../src/cli/vqa-data.ts';
import { readTuning, tune, tuningHash, writeTuning, type Tuning } from './tune.ts';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { paramReport } from '../../src/compiler/params-report.ts';
import { lockDir } from '../../src/runtime/out-lock.ts';
import { METHODS, method, type Towers } from './methods.ts';
import { cellKey, loadResults, mergeResults, report, saveResults, type Cell, type ResultsFile } from './results.ts';
import { COUNT, POSITIVE, numberFlag, numberList, type NumberRule } from '../flags.ts';

const KS = [16, 32, 64, 100, 500, 1000];
const SEEDS = [13, 21, 42, 87, 100];

const { values: o, positionals } = parseArgs({
  options: {
    train: { type: 'string' },
    test: { type: 'string' },
    vision: { type: 'string' },
    text: { type: 'string' },
    tokenizer: { type: 'string' },
    processor: { type: 'string' },
    methods: { type: 'string', default: 'all' },
    k: { type: 'string', default: KS.join(',') },
    seeds: { type: 'string', default: SEEDS.join(',') },
    answers: { type: 'string', default: '3129' },
    'max-len': { type: 'string', default: '20' },
    'answer-len': { type: 'string', default: '8' },
    reduction: { type: 'string', default: '12' },
    batch: { type: 'string', default: '16' },
    budget: { type: 'string', default: '1' },
    shard: { type: 'string', default: '1/1' },
    out: { type: 'string', default: join(import.meta.dirname, 'results') },
    merge: { type: 'boolean', default: false },
    'dry-run': { type: 'boolean', default: false },
    'retry-failed': { type: 'boolean', default: false },
    tune: { type: 'boolean', default: false },
    lrs: { type: 'string', default: '1e-4,1e-3,5e-3' },
    'tune-k': { type: 'string', default: '64' },
    'tune-seed': { type: 'string', default: '7' },
  },
  allowPositionals: true,
});

const fail = (msg: string): never => {
  console.error(`bench vqav2: ${msg}`);
  process.exit(2);
};
/** A flag read through bench/flags.ts, its refusal printed as this script's others are. */
const guarded = <T>(read: () => T): T => {
  try {
    return read();
  } catch (e) {
    return fail((e as Error).message.replace(/^bench vqav2: /, ''));
  }
};
const flag = (name: string, s: string, rule: NumberRule) => guarded(() => numberFlag('bench vqav2', name, s, rule));
const list = (name: string, s: string, rule: NumberRule) => guarded(() => numberList('bench vqav2', name, s, rule));
const ints = (name: string, s: string) => list(name, s, COUNT);
const one = (name: string, s: string) => {
  const v = ints(name, s);
  if (v.length !== 1) fail(`--${name}: one value, got ${s}`);
  return v[0];
};

const out = resolve(o.out!);
mkdirSync(out, { recursive: true });

if (o.merge) {
  const merged = mergeResults(positionals);
  saveResults(join(out, 'results.json'), merged);
  // The grid the shards were given: every cell not among the merged runs is named.
  const g = merged.config;
  const want = String(g.methods)
    .split(',')
    .flatMap((m) =>
      String(g.k)
        .split(',')
        .flatMap((k) =>
          String(g.seeds)
            .split(',')
            .map((s) => `${m}/k${k}/s${s}`),
        ),
    );
  const missing = want.filter((key) => !merged.runs[key]);
  const note = missing.length
    ? `\n${missing.length} of ${want.length} cells are missing (no shard ran them): ${missing.join(', ')}\n`
    : '';
  writeFileSync(join(out, 'results.md'), report(merged) + note);
  console.log(
    `merged ${Object.keys(merged.runs).length} runs from ${positionals.length} files -> ${out}/results.json, results.md${missing.length ? `; ${missing.length} of ${want.length} cells missing` : ''}`,
  );
  process.exit(0);
}
if (positionals.length) fail(`unexpected arguments ${positionals.join(' ')} (they are for --merge)`);
for (const k of ['train', 'test', 'vision', 'text'] as const) if (!o[k]) fail(`--${k} <dir> is required`);

const towers: Towers = {
  vision: resolve(o.vision!),
  text: resolve(o.text!),
  answers: one('answers', o.answers!),
  maxLen: one('max-len', o['max-len']!),
  answerLen: one('answer-len', o['answer-len']!),
  reduction: one('reduction', o.reduction!),
};
const batch = one('batch', o.batch!);
const budget = flag('budget', o.budget!, POSITIVE);
const [shard, shards] = (o.shard!.match(/^(\d+)\/(\d+)$/)?.slice(1) ?? []).map(Number);
if (!(shard >= 1 && shard <= shards)) fail(`--shard: ${o.shard} is not i/n with 1 <= i <= n`);
const methods = o.methods === 'all' ? METHODS : o.methods!.split(',').map((m) => method(m.trim()));
const ks = ints('k', o.k!);
const seeds = ints('seeds', o.seeds!);

// Everything a result depends on, bound to the results file.
const config: ResultsFile['config'] = {
  train: resolve(o.train!),
  test: resolve(o.test!),
  vision: towers.vision,
  text: towers.text,
  tokenizer: o.tokenizer ? resolve(o.tokenizer) : towers.text,
  processor: o.processor ? resolve(o.processor) : towers.vision,
  answers: towers.answers,
  maxLen: towers.maxLen,
  answerLen: towers.answerLen,
  reduction: towers.reduction,
  batch,
  budget,
  // The grid and its split into shards: shards of different grids do not merge.
  methods: methods.map((m) => m.name).join(','),
  k: ks.join(','),
  seeds: seeds.join(','),
  shards,
};

/** A method's spec as JSON (the CLI reads .json specs), with the inputs it names. */
function specFile(m: (typeof METHODS)[number]): { path: string; trainable: number; hash: string } {
  let b = m.model(towers);
  if (o.tokenizer || o.processor)
    b = b.inputs({
      ...(o.tokenizer ? { tokenizer: config.tokenizer as string } : {}),
      ...(o.processor ? { processor: config.processor as string } : {}),
    });
  const spec = b.spec;
  const { trainable } = paramReport(lowerModel(spec, { batch, mode: 'train' }).graph);
  mkdirSync(join(out, 'specs'), { recursive: true });
  const path = join(out, 'specs', `${m.name}.json`);
  const text = `${JSON.stringify(spec, null, 1)}\n`;
  writeFileSync(path, text);
  return { path, trainable, hash: createHash('sha256').update(text).digest('hex').slice(0, 16) };
}

// Equal tuning (tune.ts): every method over the same learning rates, on a tuning seed, dev only.
const setup = { ...config };
for (const key of ['test', 'k', 'seeds', 'shards', 'methods'] as const) delete setup[key];
if (o.tune) {
  const tuneK = one('tune-k', o['tune-k']!);
  const tuneSeed = flag('tune-seed', o['tune-seed']!, { integer: true, min: 0 });
  if (seeds.includes(tuneSeed))
    fail(`--tune-seed ${tuneSeed} is a reporting seed (--seeds ${seeds.join(',')}): tune on another`);
  const lrs = list('lrs', o.lrs!, POSITIVE);
  // `train` scores a test.jsonl it finds beside the training file: tuning must not see one.
  if (sibling(config.train as string, 'test'))
    fail(
      `--train ${config.train} has a test split beside it, which \`peftgraph train\` would score: tune on a directory without one`,
    );
  const tuneSpecs = new Map(methods.map((m) => [m.name, specFile(m)]));
  let t: Tuning;
  try {
    t = tune({
      methods: methods.map((m) => m.name),
      lrs,
      k: tuneK,
      seed: tuneSeed,
      setup,
      run: (m, lr) => ({
        spec: tuneSpecs.get(m)!.path,
        train: config.train as string,
        k: tuneK,
        seed: tuneSeed,
        lr,
        batch,
        budget,
        dir: join(out, 'tuning', `${m}-lr${lr}`),
      }),
      log: (line) => console.log(line),
    });
  } catch (e) {
    fail((e as Error).message);
  }
  writeTuning(out, t!);
  console.log(
    `tuning -> ${out}/tuning.json, tuning.md: ${Object.entries(t!.chosen)
      .map(([m, lr]) => `${m} ${lr}`)
      .join(', ')}`,
  );
  process.exit(0);
}
// The grid's learning rates: the tuning's choice when --out holds one (for the same setup), else methods.ts's.
const tuning = readTuning(join(out, 'tuning.json'));
if (tuning) {
  const differ = Object.keys({ ...tuning.setup, ...setup }).filter(
    (key) => !['k', 'seed', 'lrs'].includes(key) && tuning.setup[key] !== setup[key as keyof typeof setup],
  );
  if (differ.length)
    fail(`${out}/tuning.json was made with other settings (${differ.join(', ')}): tune again, or use another --out`);
  const untuned = methods.filter((m) => tuning.chosen[m.name] === undefined).map((m) => m.name);
  if (untuned.length)
    fail(`${out}/tuning.json has no learning rate for ${untuned.join(', ')}: tune them (--tune --methods ...)`);
}
config.tuning = tuning ? tuningHash(tuning) : 'none (methods.ts learning rates)';
const lrOf = (m: string) => tuning?.chosen[m] ?? method(m).lr;

const cells: Cell[] = methods.flatMap((m) => ks.flatMap((k) => seeds.map((seed) => ({ method: m.name, k, seed }))));
const mine = cells.filter((_, i) => i % shards === shard - 1);
const path = join(out, 'results.json');
// One process per --out: two would each overwrite the other's cells.
if (!o['dry-run']) {
  try {
    process.on('exit', lockDir(out));
  } catch (e) {
    fail((e as Error).message);
  }
}
const results: ResultsFile = (() => {
  try {
    return loadResults(path, config);
  } catch (e) {
    return fail((e as Error).message);
  }
})();
// A cell is done when it finished, or failed unless --retry-failed; a done cell made from another
// spec or learning rate than the current methods.ts gives is refused (methods.ts changed).
const specs = new Map(methods.map((m) => [m.name, specFile(m)]));
for (const c of mine) {
  const had = results.runs[cellKey(c)];
  const now = specs.get(c.method)!;
  if (had && (had.spec !== now.hash || had.lr !== lrOf(c.method)))
    fail(
      `${cellKey(c)} in ${path} was run with another spec or learning rate than methods.ts and the tuning now give: use another --out`,
    );
}
const todo = mine.filter((c) => {
  const had = results.runs[cellKey(c)];
  return !had || (had.status === 'failed' && o['retry-failed']);
});
console.log(
  `${cells.length} cells (${methods.length} methods x k ${ks.join(',')} x seeds ${seeds.join(',')}); shard ${shard}/${shards}: ${mine.length}, ${mine.length - todo.length} done, ${todo.length} to run -> ${out}`,
);
for (const [i, c] of todo.entries()) {
  const lr = lrOf(c.method);
  const run: TrainRun = {
    spec: specs.get(c.method)!.path,
    train: config.train as string,
    test: config.test as string,
    k: c.k,
    seed: c.seed,
    lr,
    batch,
    budget,
    dir: join(out, 'runs', `${c.method}-k${c.k}-s${c.seed}`),
  };
  if (o['dry-run']) {
    console.log(`node ${trainArgs(run).join(' ')}`);
    continue;
  }
  const r = runTrain(run);
  if (!r.ok && r.interrupted) fail('interrupted; finished cells are kept');
  const spec = specs.get(c.method)!;
  const base = { ...c, trainable: spec.trainable, spec: spec.hash, lr, seconds: +r.seconds.toFixed(1) };
  if (r.ok) {
    const t = JSON.parse(readFileSync(join(run.dir, 'test.json'), 'utf8')) as { accuracy: number; exactMatch: number };
    results.runs[cellKey(c)] = { ...base, status: 'ok', test: t.accuracy, exactMatch: t.exactMatch };
  } else results.runs[cellKey(c)] = { ...base, status: 'failed', error: r.error };
  saveResults(path, results);
  const got = results.runs[cellKey(c)];
  console.log(
    `[${i + 1}/${todo.length}] ${c.method} k=${c.k} seed=${c.seed}: ${got.status === 'ok' ? `test ${(100 * got.test!).toFixed(1)}` : `failed (${got.error})`} in ${r.seconds.toFixed(0)} s`,
  );
}
if (!o['dry-run']) writeFileSync(join(out, 'results.md'), report(results));
