/**
 * The VQAv2 grid's results file: every finished cell (method, k, seed) with its scores, bound to
 * the configuration that produced it (data, towers, inputs, sizes, budget). Runs are added to a
 * file only under the same configuration, and shards merge only when theirs agree; a cell given
 * twice with different results is an error, never one silently kept.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { pooledComparisons, pooledTable, type Score } from '../vqa/pooled.ts';

export const RESULTS_FORMAT = 'peftgraph-vqav2-results-1';

export interface Cell {
  method: string;
  k: number;
  seed: number;
}

export interface CellResult extends Cell {
  status: 'ok' | 'failed';
  /** VQA accuracy of the best dev checkpoint on the test split. */
  test?: number;
  exactMatch?: number;
  trainable: number;
  /** sha256 (16 hex digits) of the method's spec JSON, and its learning rate: a changed methods.ts is noticed. */
  spec: string;
  lr: number;
  seconds: number;
  /** The run's last error line (a failed run). */
  error?: string;
}

export interface ResultsFile {
  format: typeof RESULTS_FORMAT;
  config: Record<string, string | number>;
  runs: Record<string, CellResult>;
}

export const cellKey = (c: Cell) => `${c.method}/k${c.k}/s${c.seed}`;

export function loadResults(path: string, config: ResultsFile['config']): ResultsFile {
  if (!existsSync(path)) return { format: RESULTS_FORMAT, config, runs: {} };
  const f = readResults(path);
  const differ = sameConfig(f.config, config);
  if (differ.length)
    throw new Error(
      `${path} holds runs of another configuration (${differ.join('; ')}): use another --out, or the same settings`,
    );
  return f;
}

export function readResults(path: string): ResultsFile {
  const f = JSON.parse(readFileSync(path, 'utf8')) as ResultsFile;
  if (f.format !== RESULTS_FORMAT)
    throw new Error(`${path}: format ${JSON.stringify(f.format)}, expected ${RESULTS_FORMAT}`);
  return f;
}

/** Where two configurations differ, one line a key (empty: the same). */
function sameConfig(a: ResultsFile['config'], b: ResultsFile['config']): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => a[k] !== b[k]).map((k) => `${k}: ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`);
}

/** Written to a temporary file and renamed: a crash mid-write leaves the previous file. */
export function saveResults(path: string, f: ResultsFile): void {
  writeFileSync(`${path}.tmp`, `${JSON.stringify(f, null, 1)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function mergeResults(paths: string[]): ResultsFile {
  if (!paths.length) throw new Error("--merge: name the shards' results.json files");
  const files = paths.map(readResults);
  const out: ResultsFile = { format: RESULTS_FORMAT, config: files[0].config, runs: {} };
  files.forEach((f, i) => {
    const differ = sameConfig(files[0].config, f.config);
    if (differ.length)
      throw new Error(`${paths[i]} was run with another configuration than ${paths[0]}: ${differ.join('; ')}`);
    for (const [key, r] of Object.entries(f.runs)) {
      const had = out.runs[key];
      if (had && JSON.stringify({ ...had, seconds: 0 }) !== JSON.stringify({ ...r, seconds: 0 }))
        throw new Error(`${key} has two different results (${paths[i]} and an earlier file)`);
      out.runs[key] = r;
    }
  });
  return out;
}

const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
const sd = (x: number[]) =>
  x.length < 2 ? 0 : Math.sqrt(x.reduce((a, b) => a + (b - mean(x)) ** 2, 0) / (x.length - 1));

/** The table: test VQA accuracy, mean ± sd over seeds (n), a method a row and k a column; failures counted. */
export function report(f: ResultsFile): string {
  const runs = Object.values(f.runs);
  const methods = [...new Set(runs.map((r) => r.method))];
  const ks = [...new Set(runs.map((r) => r.k))].sort((a, b) => a - b);
  const cell = (m: string, k: number) => {
    const ok = runs.filter((r) => r.method === m && r.k === k && r.status === 'ok').map((r) => 100 * r.test!);
    const failed = runs.filter((r) => r.method === m && r.k === k && r.status === 'failed').length;
    const text = ok.length ? `${mean(ok).toFixed(1)} ± ${sd(ok).toFixed(1)} (${ok.length})` : '-';
    return failed ? `${text}, ${failed} failed` : text;
  };
  const trainable = (m: string) => runs.find((r) => r.method === m)?.trainable ?? 0;
  const lines = [
    '# VQAv2, low-resource protocol: test VQA accuracy (%), mean ± sd over seeds (runs)',
    '',
    `Configuration: ${Object.entries(f.config)
      .map(([k, v]) => `${k} = ${v}`)
      .join(', ')}.`,
    '',
    `| method | trainable | ${ks.map((k) => `k = ${k}`).join(' | ')} |`,
    `| --- | --- | ${ks.map(() => '---').join(' | ')} |`,
    ...methods.map(
      (m) => `| ${m} | ${trainable(m).toLocaleString('en-US')} | ${ks.map((k) => cell(m, k)).join(' | ')} |`,
    ),
    '',
  ];
  // MixPHM's claim: ahead of every other method, full finetuning included; read once per seed, pooled over k.
  const scores: Score[] = runs
    .filter((r) => r.status === 'ok')
    .map((r) => ({ method: r.method, k: r.k, seed: r.seed, score: r.test! }));
  const others = methods.filter((m) => m !== 'mixphm');
  if (methods.includes('mixphm') && others.length)
    lines.push(
      '## MixPHM against each method, pooled over k, Holm-corrected',
      '',
      ...pooledTable(
        pooledComparisons(
          scores,
          others.map((m) => ['mixphm', m] as [string, string]),
          ks,
        ),
      ),
      '',
    );
  return lines.join('\n');
}
