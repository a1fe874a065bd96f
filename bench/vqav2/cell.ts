/**
 * One `peftgraph train` run of the recipe (a grid cell, or a tuning run): its arguments, and the
 * run in a child process with its whole output in the run directory's log.txt (no buffer to
 * overflow). A failure is the CLI's one-line error, with the exit status or signal.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { schedule } from '../vqa/schedule.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

export interface TrainRun {
  spec: string;
  train: string;
  /** The scored split; none for a tuning run (it reads dev only). */
  test?: string;
  k: number;
  seed: number;
  lr: number;
  batch: number;
  budget: number;
  dir: string;
}

/** The CLI's arguments for a run: the k-shot draw, the protocol's step budget (bench/vqa/schedule.ts). */
export function trainArgs(r: TrainRun): string[] {
  const sch = schedule(r.k, r.budget, r.batch);
  return [
    join(ROOT, 'bin', 'peftgraph.mjs'),
    'train',
    r.spec,
    '--data',
    r.train,
    ...(r.test ? ['--test', r.test] : []),
    '--k',
    String(r.k),
    '--seed',
    String(r.seed),
    '--epochs',
    String(sch.epochs),
    '--eval-every',
    String(sch.evalEvery),
    '--patience',
    String(sch.patience),
    '--batch',
    String(r.batch),
    '--lr',
    String(r.lr),
    '--out',
    r.dir,
    '--overwrite',
  ];
}

export type RunOutcome =
  | { ok: true; seconds: number }
  | { ok: false; seconds: number; error: string; interrupted: boolean };

export function runTrain(r: TrainRun): RunOutcome {
  const t0 = performance.now();
  mkdirSync(r.dir, { recursive: true });
  const logPath = join(r.dir, 'log.txt');
  const log = openSync(logPath, 'w');
  const p = spawnSync(process.execPath, trainArgs(r), { stdio: ['ignore', log, log] });
  closeSync(log);
  const seconds = (performance.now() - t0) / 1000;
  if (p.status === 0) return { ok: true, seconds };
  const interrupted = p.signal === 'SIGINT' || p.status === 130;
  if (p.error) return { ok: false, seconds, interrupted, error: `could not run: ${p.error.message}` };
  const said = readFileSync(logPath, 'utf8')
    .split(/\r|\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('peftgraph:'))
    .at(-1);
  return {
    ok: false,
    seconds,
    interrupted,
    error: `${said ?? 'no error line'} (${p.signal ? `signal ${p.signal}` : `exit ${p.status}`}; ${logPath})`,
  };
}

/** The best dev VQA accuracy a finished run reached (its history.json's evaluations). */
export function bestDev(dir: string): number {
  const history = JSON.parse(readFileSync(join(dir, 'history.json'), 'utf8')) as { dev?: { accuracy: number } }[];
  const devs = history.filter((h) => h.dev).map((h) => h.dev!.accuracy);
  if (!devs.length) throw new Error(`${dir}/history.json: no dev evaluation (the run had no dev split)`);
  return Math.max(...devs);
}
