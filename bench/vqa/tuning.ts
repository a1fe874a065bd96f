/** The tuning file of bench/vqa/tune.ts and the choice made from it (dev only). */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DataError } from '../../src/data/errors.ts';
import { SETTINGS, type Setting } from './methods.ts';

export interface TuningRun {
  method: string;
  lr: number;
  status: 'ok' | 'diverged';
  dev?: number;
  /** The mean of the run's dev scores over its evaluations: breaks a tie in `dev`. */
  meanDev?: number;
  epoch?: number;
  steps: number;
  seconds: number;
}

export interface TuningFile {
  format: 'peftgraph-bench-vqa-tuning-1';
  config: { setting: Setting; lrs: number[]; k: number; seed: number };
  runs: Record<string, TuningRun>;
}

export const tuningKey = (m: string, lr: number) => `${m}@${lr}`;

const rate = z.number().positive().finite();
const TuningRunSchema = z.strictObject({
  method: z.string().min(1),
  lr: rate,
  status: z.enum(['ok', 'diverged']),
  dev: z.number().min(0).optional(),
  meanDev: z.number().min(0).optional(),
  epoch: z.number().int().min(0).optional(),
  steps: z.number().int().min(0),
  seconds: z.number().min(0),
});
const TuningFileSchema = z.strictObject({
  format: z.literal('peftgraph-bench-vqa-tuning-1'),
  config: z.strictObject({
    setting: z.enum(Object.keys(SETTINGS) as [Setting, ...Setting[]]),
    lrs: z.array(rate).min(1),
    k: z.number().int().positive(),
    seed: z.number().int(),
  }),
  runs: z.record(z.string(), TuningRunSchema),
});

/**
 * The most a dev score can be in a setting: VQA accuracy is a fraction; CIDEr-D, the caption
 * setting's score, is 10 times a mean of cosines (caption-metrics.ts), so at most 10.
 */
export const scoreMax = (s: Setting) => (SETTINGS[s].data === 'caption' ? 10 : 1);

/**
 * A tuning file, checked whole: an unknown key, a run filed under another method or rate, an
 * 'ok' run without a dev score or a rate outside the grid is refused, naming the file and where.
 */
export function readTuningFile(path: string): TuningFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DataError(`${path}: not a tuning file (${(e as Error).message})`);
  }
  const r = TuningFileSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new DataError(`${path}: ${i.path.join('.') || '<file>'}: ${i.message}`);
  }
  const f = r.data as TuningFile;
  for (const [key, run] of Object.entries(f.runs)) {
    if (key !== tuningKey(run.method, run.lr))
      throw new DataError(`${path}: runs.${key} holds ${run.method} at lr ${run.lr}`);
    if (!f.config.lrs.includes(run.lr))
      throw new DataError(`${path}: runs.${key}: lr ${run.lr} is not in the grid ${f.config.lrs.join(', ')}`);
    if (run.status === 'ok' && run.dev === undefined)
      throw new DataError(`${path}: runs.${key}: an ok run without a dev score`);
    for (const field of ['dev', 'meanDev'] as const) {
      const v = run[field];
      if (v !== undefined && v > scoreMax(f.config.setting))
        throw new DataError(
          `${path}: runs.${key}.${field}: ${v} is above ${scoreMax(f.config.setting)}, the most a ${f.config.setting} score can be`,
        );
    }
  }
  return f;
}

/**
 * Per method, the rate with the best dev score; diverged runs never win. A tie goes to the higher
 * mean dev score over the run's evaluations, then to the smaller rate. (The first tuning, at
 * k=100, tied 5 of 9 methods at the pretrained model's own dev score, reached at the first
 * evaluation: the smaller rate alone would pick a rate at which the method never improved.)
 */
export function choose(f: TuningFile, methods: string[]): Map<string, { lr: number; dev: number } | null> {
  return new Map(
    methods.map((m) => {
      const run = (lr: number) => f.runs[tuningKey(m, lr)];
      return [
        m,
        pickRate(f.config.lrs, (lr) => (run(lr)?.status === 'ok' && run(lr)!.dev !== undefined ? run(lr)! : null)),
      ];
    }),
  );
}

/**
 * The rule both tunings use (this one and bench/vqav2's): among the rates that ran, the best dev
 * score; a tie goes to the higher mean dev over the run where it is known, then to the smaller rate.
 */
export function pickRate(
  lrs: readonly number[],
  score: (lr: number) => { dev?: number; meanDev?: number } | null,
): { lr: number; dev: number } | null {
  let best: { lr: number; dev: number; mean: number } | null = null;
  for (const lr of [...lrs].sort((a, b) => a - b)) {
    const s = score(lr);
    if (s?.dev === undefined) continue;
    const mean = s.meanDev ?? Number.NEGATIVE_INFINITY;
    if (!best || s.dev > best.dev || (s.dev === best.dev && mean > best.mean)) best = { lr, dev: s.dev, mean };
  }
  return best && { lr: best.lr, dev: best.dev };
}

export function tuningReport(f: TuningFile, methods: string[]): string {
  const { lrs, k, seed, setting } = f.config;
  const chosen = choose(f, methods);
  // The setting's score, named and scaled as results.ts reports it.
  const caption = SETTINGS[setting].data === 'caption';
  const lines = [
    `Tuning of setting \`${setting}\`: k=${k}${caption ? ' images' : ''}, tuning seed ${seed} (not a reporting seed), the protocol's step budget; best dev ${caption ? 'CIDEr-D (x100)' : 'VQA accuracy (%)'} per learning rate. The test set was not scored.`,
    '',
    `| method | ${lrs.map((lr) => `lr ${lr}`).join(' | ')} | chosen |`,
    `| --- | ${lrs.map(() => '---:').join(' | ')} | ---: |`,
  ];
  for (const m of methods) {
    const cells = lrs.map((lr) => {
      const r = f.runs[tuningKey(m, lr)];
      return !r ? '' : r.status === 'diverged' ? 'diverged' : (100 * r.dev!).toFixed(1);
    });
    const c = chosen.get(m);
    lines.push(`| ${m} | ${cells.join(' | ')} | ${c ? c.lr : '-'} |`);
  }
  return `${lines.join('\n')}\n`;
}
