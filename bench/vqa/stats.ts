/**
 * Paired comparisons over seeds for the two claims the benchmark tests. Two methods run with the
 * same seed see the same k training and dev questions, so their difference on that seed is one
 * paired observation; over n seeds the mean difference gets a 95% t interval (a bootstrap over 5
 * seeds has too few distinct resamples to mean much) and the seeds are counted as wins, ties and
 * losses.
 */
import type { ResultFile } from './results.ts';

/** Two-sided 95% critical values of Student's t, by degrees of freedom 1..30 (standard tables). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export interface Paired {
  /** Seeds where both methods finished. */
  n: number;
  /** Mean of a - b (accuracy, 0..1). */
  mean: number;
  /** 95% t interval of the mean difference ([NaN, NaN] below two seeds). */
  lo: number;
  hi: number;
  wins: number;
  ties: number;
  losses: number;
}

/** The 95% t interval of the mean of `d`. */
export function tInterval(d: number[]): { mean: number; lo: number; hi: number } {
  const n = d.length;
  const mean = d.reduce((s, x) => s + x, 0) / (n || 1);
  if (n < 2) return { mean: n ? mean : NaN, lo: NaN, hi: NaN };
  if (n - 1 > T975.length) throw new Error(`tInterval: ${n} observations; the table stops at ${T975.length + 1}`);
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const half = (T975[n - 2] * sd) / Math.sqrt(n);
  return { mean, lo: mean - half, hi: mean + half };
}

/** Per-seed test accuracy of one method at one k (finished runs only). */
function bySeed(f: ResultFile, method: string, k: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of Object.values(f.runs))
    if (r.method === method && r.k === k && r.status === 'ok') out.set(r.seed, r.test!.accuracy);
  return out;
}

/** a - b over the seeds both finished at k; a tie is an equal score (up to float rounding). */
export function paired(f: ResultFile, a: string, b: string, k: number, tie = 1e-9): Paired {
  const A = bySeed(f, a, k);
  const B = bySeed(f, b, k);
  const d = [...A.keys()].filter((s) => B.has(s)).map((s) => A.get(s)! - B.get(s)!);
  return {
    n: d.length,
    ...tInterval(d),
    wins: d.filter((x) => x > tie).length,
    ties: d.filter((x) => Math.abs(x) <= tie).length,
    losses: d.filter((x) => x < -tie).length,
  };
}

export interface Comparison {
  a: string;
  /** The method compared against, per k (the best other PEFT method can change with k). */
  b: (k: number) => string | undefined;
  label: string;
}

const mean = (m: Map<number, number>) => [...m.values()].reduce((s, x) => s + x, 0) / m.size;

/** The method of `pool` with the highest mean test accuracy at k (ties: the first listed). */
export function bestAt(f: ResultFile, pool: string[], k: number): string | undefined {
  let best: string | undefined;
  let bestMean = -Infinity;
  for (const m of pool) {
    const s = bySeed(f, m, k);
    if (s.size && mean(s) > bestMean) [best, bestMean] = [m, mean(s)];
  }
  return best;
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;

/**
 * What the intervals say, per k: a ahead (the whole 95% interval above 0), behind (below 0), or
 * not separated (it holds 0, or fewer than two seeds). Uncorrected for the many cells compared.
 */
export function reading(cells: { k: number; p: Paired }[]): string {
  const at = (keep: (p: Paired) => boolean) => cells.filter((c) => keep(c.p)).map((c) => c.k);
  const parts: [string, number[]][] = [
    ['ahead at k=', at((p) => p.lo > 0)],
    ['behind at k=', at((p) => p.hi < 0)],
    ['not separated at k=', at((p) => !(p.lo > 0) && !(p.hi < 0))],
  ];
  return parts
    .filter(([, ks]) => ks.length)
    .map(([what, ks]) => what + ks.join(', '))
    .join('; ');
}

/** One Markdown table: per comparison and k, mean difference in points, its 95% interval, wins/ties/losses; then the reading. */
export function pairedTable(f: ResultFile, comparisons: Comparison[], ks: number[]): string[] {
  const lines = [
    `| comparison (a - b, points) | ${ks.map((k) => `k=${k}`).join(' | ')} | reading (95%) |`,
    `| --- | ${ks.map(() => '---').join(' | ')} | --- |`,
  ];
  for (const c of comparisons) {
    const done: { k: number; p: Paired }[] = [];
    const cells = ks.map((k) => {
      const b = c.b(k);
      if (!b) return '';
      const p = paired(f, c.a, b, k);
      if (!p.n) return '';
      done.push({ k, p });
      const ci = Number.isNaN(p.lo) ? '' : ` [${pct(p.lo)}, ${pct(p.hi)}]`;
      return `${pct(p.mean)}${ci} ${p.wins}/${p.ties}/${p.losses}${c.label.includes('best') ? ` vs ${b}` : ''}`;
    });
    if (cells.some(Boolean)) lines.push(`| ${c.label} | ${cells.join(' | ')} | ${reading(done)} |`);
  }
  return lines;
}
