/**
 * Benchmark results: one JSON file of finished runs keyed by method/k/seed (written atomically
 * after every run, which is what makes the runner resumable), summarized as a Markdown table
 * (mean ± std over seeds) and accuracy-vs-k charts.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { TopLevelSpec } from 'vega-lite';
import { writeAtomic } from '../../src/runtime/safetensors.ts';
import { renderSvg } from '../../src/cli/plot.ts';
import { METHODS, SETTINGS, type Setting } from './methods.ts';
import { familyPriorAccuracy, TEST_SIZE } from './protocol.ts';
import { nearTest } from './near.ts';
import { bestAt, pairedTable, type Comparison } from './stats.ts';
import { pooledComparisons, pooledTable, type Score } from './pooled.ts';
import { CAPTION_TEST } from './caption-data.ts';

/** Every setting, in the order the report lists them. */
export const SETTING_NAMES = Object.keys(SETTINGS) as Setting[];

export interface RunRecord {
  method: string;
  setting: Setting;
  k: number;
  seed: number;
  /** 'diverged': a non-finite loss or gradient stopped the run; it has no scores. */
  status: 'ok' | 'diverged';
  test?: { accuracy: number; exactMatch: number };
  dev?: { accuracy: number; epoch: number };
  epochs: number;
  steps: number;
  stoppedEarly: boolean;
  trainable: number;
  seconds: number;
  error?: string;
  /** The learning curve: train loss and dev accuracy at each evaluation (whether the budget let the run converge). */
  curve?: { step: number; loss: number; dev: number }[];
}

export interface ResultFile {
  format: 'peftgraph-bench-vqa-1';
  /** The step-budget scale of every run in the file (protocol.ts schedule); absent: 1, the protocol's. */
  budget?: number;
  runs: Record<string, RunRecord>;
}

export const budgetOf = (f: ResultFile): number => f.budget ?? 1;

export const runKey = (method: string, k: number, seed: number) => `${method}|k=${k}|seed=${seed}`;

export function loadResults(path: string): ResultFile {
  if (!existsSync(path)) return { format: 'peftgraph-bench-vqa-1', runs: {} };
  const f = JSON.parse(readFileSync(path, 'utf8')) as ResultFile;
  if (f.format !== 'peftgraph-bench-vqa-1')
    throw new Error(`${path}: not a bench vqa result file (format ${String(f.format)})`);
  return f;
}

export function saveResults(path: string, f: ResultFile): void {
  writeAtomic(path, Buffer.from(`${JSON.stringify(f, null, 1)}\n`));
}

/**
 * Combines the result files of several shards (or machines). A run found in two files must be
 * the same record apart from its wall time; otherwise the files disagree and merging stops.
 */
export function mergeResults(paths: string[]): ResultFile {
  const out: ResultFile = { format: 'peftgraph-bench-vqa-1', runs: {} };
  const from = new Map<string, string>();
  for (const [i, path] of paths.entries()) {
    if (!existsSync(path)) throw new Error(`bench vqa merge: ${path}: no such result file`);
    const f = loadResults(path);
    // Runs made with different step budgets are different experiments, never one table.
    if (i === 0 && budgetOf(f) !== 1) out.budget = budgetOf(f);
    if (budgetOf(f) !== budgetOf(out))
      throw new Error(
        `bench vqa merge: ${path} has step budget x${budgetOf(f)}, ${paths[0]} x${budgetOf(out)}: merge them apart`,
      );
    for (const [key, r] of Object.entries(f.runs)) {
      const had = out.runs[key];
      if (had && JSON.stringify({ ...had, seconds: 0 }) !== JSON.stringify({ ...r, seconds: 0 }))
        throw new Error(
          `bench vqa merge: run ${key} differs between ${from.get(key)} and ${path}: rerun one of them or drop it`,
        );
      out.runs[key] = had ?? r;
      from.set(key, from.get(key) ?? path);
    }
  }
  return out;
}

export interface Cell {
  mean: number;
  std: number;
  n: number;
  diverged: number;
}

/** Mean and sample standard deviation of test VQA accuracy over seeds, per method and k. */
export function summarize(f: ResultFile): Map<string, Map<number, Cell>> {
  const out = new Map<string, Map<number, Cell>>();
  const groups = new Map<string, RunRecord[]>();
  for (const r of Object.values(f.runs)) {
    const key = `${r.method}|${r.k}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const rs of groups.values()) {
    const acc = rs.filter((r) => r.status === 'ok').map((r) => r.test!.accuracy);
    const mean = acc.reduce((a, b) => a + b, 0) / (acc.length || 1);
    const std = acc.length > 1 ? Math.sqrt(acc.reduce((a, b) => a + (b - mean) ** 2, 0) / (acc.length - 1)) : 0;
    const row = out.get(rs[0].method) ?? new Map<number, Cell>();
    row.set(rs[0].k, { mean: acc.length ? mean : NaN, std, n: acc.length, diverged: rs.length - acc.length });
    out.set(rs[0].method, row);
  }
  return out;
}

const pct = (x: number) => (100 * x).toFixed(1);

export function markdownTable(f: ResultFile): string {
  const cells = summarize(f);
  const ks = [...new Set(Object.values(f.runs).map((r) => r.k))].sort((a, b) => a - b);
  const runs = Object.values(f.runs);
  const lines: string[] = [
    `Test set: ${TEST_SIZE} downstream questions on held-out digit samples. Floor: answering each question with its family's most common training answer scores ${pct(familyPriorAccuracy())}%.`,
    '',
  ];
  if (budgetOf(f) !== 1)
    lines.push(`Step budget: ${budgetOf(f)} times the protocol's (a budget check, not the protocol's grid).`, '');
  for (const setting of SETTING_NAMES) {
    const methods = METHODS.filter((m) => m.setting === setting && cells.has(m.name));
    if (!methods.length) continue;
    const data = SETTINGS[setting].data;
    const about =
      data === 'caption'
        ? `test CIDEr-D (x100), mean ± std over seeds (${CAPTION_TEST} test images; k counts images)`
        : `test VQA accuracy (%), mean ± std over seeds${data ? ` (near transfer: ${nearTest('native', data).examples.length} test questions, floor ${pct(familyPriorAccuracy(data))}%)` : ''}`;
    lines.push(`### Setting \`${setting}\`: ${about}`, '');
    lines.push(`| method | trainable | ${ks.map((k) => `k=${k}`).join(' | ')} | wall time |`);
    lines.push(`| --- | ---: | ${ks.map(() => '---:').join(' | ')} | ---: |`);
    for (const m of methods) {
      const mine = runs.filter((r) => r.method === m.name);
      const row = ks.map((k) => {
        const c = cells.get(m.name)!.get(k);
        if (!c) return '';
        const div = c.diverged ? ` (${c.diverged} diverged)` : '';
        return c.n ? `${pct(c.mean)} ± ${pct(c.std)}${c.n < 3 ? ` (n=${c.n})` : ''}${div}` : `—${div}`;
      });
      const secs = mine.reduce((a, r) => a + r.seconds, 0);
      lines.push(
        `| ${m.name} | ${mine[0].trainable.toLocaleString('en-US')} | ${row.join(' | ')} | ${(secs / 60).toFixed(1)} min |`,
      );
    }
    lines.push('', budgetLine(runs.filter((r) => r.setting === setting)), '');
  }
  lines.push(...claims(f, ks));
  return lines.join('\n');
}

/**
 * Whether the step budget let runs converge: how many stopped early (dev stopped improving) and
 * how many had their best dev accuracy at their last evaluation (they may still have been rising).
 */
export function budgetLine(runs: RunRecord[]): string {
  const ok = runs.filter((r) => r.status === 'ok' && r.curve?.length);
  const early = ok.filter((r) => r.stoppedEarly).length;
  const lastBest = ok.filter((r) => {
    const c = r.curve!;
    return c[c.length - 1].dev >= Math.max(...c.map((x) => x.dev)) && !r.stoppedEarly;
  }).length;
  return `Budget: of ${ok.length} runs with learning curves, ${early} stopped early (dev stopped improving), ${lastBest} ended on the budget with their best dev accuracy at the last evaluation (possibly still rising).`;
}

/**
 * The two claims as paired differences over seeds: MixPHM against full finetuning and against
 * the best other PEFT method at each k (best by mean test accuracy, so that comparison favours
 * the other side), and each routing function against none for LoRA and the adapter.
 */
function claims(f: ResultFile, ks: number[]): string[] {
  const has = (m: string) => Object.values(f.runs).some((r) => r.method === m);
  const vs = (a: string, b: string): Comparison => ({ a, b: () => b, label: `${a} - ${b}` });
  // The joint model's claims, in 'vl' (names plain) and 'near' (names 'near/...').
  const joint = (setting: 'vl' | 'near'): Comparison[] => {
    const p = setting === 'vl' ? '' : `${setting}/`;
    const mine = ['full', 'mixphm', 'mixphm+reg'].map((n) => p + n);
    const others = METHODS.filter((m) => m.setting === setting && !mine.includes(m.name)).map((m) => m.name);
    return [
      vs(`${p}mixphm`, `${p}full`),
      { a: `${p}mixphm`, b: (k: number) => bestAt(f, others, k), label: `${p}mixphm - best other PEFT` },
      vs(`${p}mixphm+reg`, `${p}full`),
      vs(`${p}mixphm+reg`, `${p}mixphm`),
    ];
  };
  const comparisons: Comparison[] = [
    ...joint('vl'),
    vs('encdec/mixphm', 'encdec/full'),
    vs('encdec/mixphm', 'encdec/lora'),
    vs('encdec/mixphm-p0', 'encdec/mixphm'),
    ...routingPairs().map(([a, b]) => vs(a, b)),
    ...joint('near'),
    vs('near-encdec/mixphm', 'near-encdec/full'),
    vs('near-encdec/mixphm', 'near-encdec/lora'),
    vs('near-encdec/mixphm+reg', 'near-encdec/mixphm'),
  ].filter((c) => has(c.a));
  if (!comparisons.length) return [];
  return [
    '### Paired differences over seeds',
    '',
    'Per cell: mean of (a - b) over the seeds both ran, in accuracy points, its 95% t interval, and wins/ties/losses of a over the seeds.',
    '',
    ...pairedTable(f, comparisons, ks),
    '',
    ...pooledClaims(f, ks),
  ];
}

/** Each routing function against its plain method, in 'routing' ('lora/add'), 'near-routing' and 'caption' ('caption/lora/add'). */
function routingPairs(): [string, string][] {
  return ['', 'near-routing/', 'caption/'].flatMap((p) =>
    ['lora', 'adapter'].flatMap((m) =>
      ['add', 'mul', 'mulExpand', 'inner'].map((r): [string, string] => [`${p}${m}/${r}`, `${p}${m}/none`]),
    ),
  );
}

/**
 * The same claims read once per seed, pooled over k, Holm-corrected together (pooled.ts): the
 * per-cell table above reads 48+ cells uncorrected, and a seed's cells are nested draws.
 * MixPHM's "best other PEFT method" changes with k, so here it is compared with LoRA, the
 * strongest baseline over most ks.
 */
function pooledClaims(f: ResultFile, ks: number[]): string[] {
  const scores: Score[] = Object.values(f.runs)
    .filter((r) => r.status === 'ok')
    .map((r) => ({ method: r.method, k: r.k, seed: r.seed, score: r.test!.accuracy }));
  const has = (m: string) => scores.some((s) => s.method === m);
  const joint = (p: string): [string, string][] => [
    [`${p}mixphm`, `${p}full`],
    [`${p}mixphm`, `${p}lora`],
    [`${p}mixphm+reg`, `${p}full`],
  ];
  const pairs = (
    [
      ...joint(''),
      ['encdec/mixphm', 'encdec/full'],
      ['encdec/mixphm', 'encdec/lora'],
      ...routingPairs(),
      ...joint('near/'),
      ['near-encdec/mixphm', 'near-encdec/full'],
      ['near-encdec/mixphm', 'near-encdec/lora'],
    ] as [string, string][]
  ).filter(([a, b]) => has(a) && has(b));
  if (!pairs.length) return [];
  return ['### Pooled over k, Holm-corrected', '', ...pooledTable(pooledComparisons(scores, pairs, ks), 0.05), ''];
}

/** Test accuracy vs k (log axis), one line per method of the setting, ±1 std as error bars. */
export function accuracyChart(f: ResultFile, setting: Setting): Promise<string> {
  const values: { method: string; k: number; mean: number; lo: number; hi: number }[] = [];
  for (const [method, row] of summarize(f)) {
    if (METHODS.find((m) => m.name === method)?.setting !== setting) continue;
    for (const [k, c] of row)
      if (c.n) values.push({ method, k, mean: 100 * c.mean, lo: 100 * (c.mean - c.std), hi: 100 * (c.mean + c.std) });
  }
  const x = {
    field: 'k',
    type: 'quantitative' as const,
    scale: { type: 'log' as const },
    title: 'training examples k',
  };
  const spec: TopLevelSpec = {
    title: `MNIST-VQA, setting '${setting}': test VQA accuracy vs k`,
    width: 520,
    height: 320,
    data: { values },
    layer: [
      {
        mark: { type: 'errorbar', ticks: true },
        encoding: {
          x,
          y: { field: 'lo', type: 'quantitative', title: 'test VQA accuracy (%)' },
          y2: { field: 'hi' },
          color: { field: 'method', type: 'nominal' },
        },
      },
      {
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'mean', type: 'quantitative' }, color: { field: 'method', type: 'nominal' } },
      },
    ],
  };
  return renderSvg(spec);
}

/**
 * Dev accuracy vs step for the runs of `methods` with `seed` (one line per method and k): whether
 * the step budget let runs converge (a curve still rising at its last evaluation did not).
 */
export function curveChart(f: ResultFile, methods: string[], seed: number): Promise<string> {
  const values = Object.values(f.runs)
    .filter((r) => methods.includes(r.method) && r.seed === seed && r.curve)
    .flatMap((r) => r.curve!.map((c) => ({ run: `${r.method} k=${r.k}`, step: c.step, dev: 100 * c.dev })));
  const spec: TopLevelSpec = {
    title: `MNIST-VQA learning curves (seed ${seed}): dev VQA accuracy at each evaluation`,
    width: 520,
    height: 320,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'training step' },
      y: { field: 'dev', type: 'quantitative', title: 'dev VQA accuracy (%)', scale: { zero: false } },
      color: { field: 'run', type: 'nominal' },
    },
  };
  return renderSvg(spec);
}
