/**
 * The claims read once per seed, pooled over k, with Holm's correction (issue 35, part 4).
 *
 * A seed's draws at different k are nested (its k = 16 examples are among its k = 32 ones, and
 * so on), so the cells of one seed are not independent replications. Each comparison is
 * therefore one number per seed: the mean over k of (a - b). The n seeds give a paired t test
 * and its interval. Holm's step-down procedure corrects the m comparisons read together: the
 * comparison with the i-th smallest p is tested at alpha / (m - i + 1) (and not beyond an earlier
 * one that was not rejected), and its interval is given at that level. The smallest detectable
 * difference is the true pooled difference a two-sided test at that level finds with 80% power
 * at this n and this spread: (t_{1 - level/2} + t_{0.8}) * sd / sqrt(n), with n - 1 degrees of
 * freedom. A comparison that is not significant says "not detected at this power", with that
 * figure, never "no difference".
 */
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

export interface Score {
  method: string;
  k: number;
  seed: number;
  /** Test accuracy, 0..1. */
  score: number;
}

export interface PooledComparison {
  a: string;
  b: string;
  /** Seeds with both methods at every k compared. */
  n: number;
  /** The k values pooled. */
  ks: number[];
  /** Mean and sd over seeds of the per-seed mean over k of a - b (accuracy, 0..1). */
  mean: number;
  sd: number;
  /** Two-sided paired t test p, and Holm's adjusted p. */
  p: number;
  holm: number;
  /** The level Holm tests this comparison at, and the interval at that level. */
  level: number;
  lo: number;
  hi: number;
  /** The smallest true difference detected with 80% power at this level, n and sd. */
  detectable: number;
  verdict: string;
}

/** Per seed, the mean over `ks` of a - b; seeds missing a or b at any of the ks are left out. */
export function perSeedDifferences(scores: Score[], a: string, b: string, ks: number[]): number[] {
  const at = new Map(scores.map((s) => [`${s.method}|${s.k}|${s.seed}`, s.score]));
  const seeds = [...new Set(scores.map((s) => s.seed))].sort((x, y) => x - y);
  const out: number[] = [];
  for (const seed of seeds) {
    const d = ks.map((k) => {
      const [x, y] = [at.get(`${a}|${k}|${seed}`), at.get(`${b}|${k}|${seed}`)];
      return x === undefined || y === undefined ? undefined : x - y;
    });
    if (d.every((v) => v !== undefined)) out.push(d.reduce((s, v) => s + v!, 0) / d.length);
  }
  return out;
}

/** Holm's adjusted p values, in the input's order. */
export function holmAdjust(p: number[]): number[] {
  const order = p.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const out = new Array<number>(p.length);
  let running = 0;
  order.forEach(([v, i], rank) => {
    running = Math.max(running, Math.min(1, (p.length - rank) * v));
    out[i] = running;
  });
  return out;
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;

/** Every comparison [a, b] pooled over `ks`, Holm-corrected together at `alpha`. */
export function pooledComparisons(
  scores: Score[],
  pairs: [string, string][],
  ks: number[],
  alpha = 0.05,
): PooledComparison[] {
  const rows = pairs.map(([a, b]) => {
    const d = perSeedDifferences(scores, a, b, ks);
    const n = d.length;
    const mean = d.reduce((s, v) => s + v, 0) / Math.max(1, n);
    const sd = n > 1 ? Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : Number.NaN;
    const t = sd > 0 ? mean / (sd / Math.sqrt(n)) : mean === 0 ? 0 : Number.POSITIVE_INFINITY * Math.sign(mean);
    const p = n > 1 ? 2 * (1 - tCdf(Math.abs(t), n - 1)) : Number.NaN;
    return { a, b, n, ks, mean, sd, p };
  });
  const valid = rows.filter((r) => Number.isFinite(r.p));
  const holm = holmAdjust(valid.map((r) => r.p));
  // Holm's level for each comparison: alpha / (m - rank) by rank of its p.
  const rank = new Map([...valid].sort((x, y) => x.p - y.p).map((r, i) => [r, i]));
  return rows.map((r) => {
    const i = valid.indexOf(r);
    if (i < 0)
      return {
        ...r,
        holm: Number.NaN,
        level: Number.NaN,
        lo: Number.NaN,
        hi: Number.NaN,
        detectable: Number.NaN,
        verdict: `not tested: ${r.n} seed${r.n === 1 ? '' : 's'} with both methods at every k`,
      };
    const level = alpha / (valid.length - rank.get(r)!);
    const se = r.sd / Math.sqrt(r.n);
    const half = tQuantile(1 - level / 2, r.n - 1) * se;
    const detectable = (tQuantile(1 - level / 2, r.n - 1) + tQuantile(0.8, r.n - 1)) * se;
    const significant = holm[i] < alpha;
    const verdict = significant
      ? `${r.a} ${r.mean > 0 ? 'ahead of' : 'behind'} ${r.b} by ${pct(Math.abs(r.mean)).slice(1)} points (Holm p = ${holm[i].toPrecision(2)})`
      : `not detected at this power: a difference smaller than ${(100 * detectable).toFixed(1)} points would likely be missed`;
    return { ...r, holm: holm[i], level, lo: r.mean - half, hi: r.mean + half, detectable, verdict };
  });
}

/** The comparisons as a Markdown table (points), with how to read it. */
export function pooledTable(rows: PooledComparison[], alpha = 0.05): string[] {
  if (!rows.length) return [];
  return [
    `Per seed, one difference: the mean over k = ${rows[0].ks.join(', ')} of (a - b), in accuracy points. Over the seeds: its mean, a paired t test, Holm's correction over the ${rows.length} comparisons at ${alpha}, the interval at the level Holm tests each one, and the smallest difference this test would detect with 80% power.`,
    '',
    '| a - b | seeds | mean | Holm-level interval | p | Holm p | smallest detectable | verdict |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) =>
      Number.isFinite(r.holm)
        ? `| ${r.a} - ${r.b} | ${r.n} | ${pct(r.mean)} | [${pct(r.lo)}, ${pct(r.hi)}] at ${(100 * (1 - r.level)).toFixed(1)}% | ${r.p.toPrecision(2)} | ${r.holm.toPrecision(2)} | ${(100 * r.detectable).toFixed(1)} | ${r.verdict} |`
        : `| ${r.a} - ${r.b} | ${r.n} | - | - | - | - | - | ${r.verdict} |`,
    ),
  ];
}
