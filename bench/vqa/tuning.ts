/** The tuning file of bench/vqa/tune.ts and the choice made from it (dev only). */
import type { Setting } from './methods.ts';

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
  const lines = [
    `Tuning of setting \`${setting}\`: k=${k}, tuning seed ${seed} (not a reporting seed), the protocol's step budget; best dev VQA accuracy (%) per learning rate. The test set was not scored.`,
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
