/** The tuning file of bench/vqa/tune.ts and the choice made from it (dev only). */
import type { Setting } from './methods.ts';

export interface TuningRun {
  method: string;
  lr: number;
  status: 'ok' | 'diverged';
  dev?: number;
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

/** Per method, the rate with the best dev score (a tie: the smaller rate); diverged runs never win. */
export function choose(f: TuningFile, methods: string[]): Map<string, { lr: number; dev: number } | null> {
  const out = new Map<string, { lr: number; dev: number } | null>();
  for (const m of methods) {
    let best: { lr: number; dev: number } | null = null;
    for (const lr of [...f.config.lrs].sort((a, b) => a - b)) {
      const r = f.runs[tuningKey(m, lr)];
      if (r?.status === 'ok' && r.dev !== undefined && (!best || r.dev > best.dev)) best = { lr, dev: r.dev };
    }
    out.set(m, best);
  }
  return out;
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
