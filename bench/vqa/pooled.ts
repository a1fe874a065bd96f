/**
 * The claims read once per seed, pooled over k, with Holm's correction (issue 35, part 4).
 *
 * A seed's draws at different k are nested (its k = 16 examples are among its k = 32 ones, and
 * so on), so the cells of one seed are not independent replications. Each comparison is
 * therefore one number per seed: the mean over k of (a - b). The n seeds give a paired t test
 * and its interval. Holm's step-down procedure corrects the m comparisons read together (every
 * comparison asked for counts in m, also one that cannot be tested): the comparison with the
 * i-th smallest p is tested at alpha / (m - i + 1); once one is not rejected, the procedure stops
 * and every later one is held at that last level. Each interval is given at its comparison's
 * level. The smallest detectable difference approximates the true pooled difference a two-sided
 * test at that level finds with 80% power at this n and the observed spread, by central t
 * quantiles: (t_{1 - level/2} + t_{0.8}) * sd / sqrt(n), n - 1 degrees of freedom. The exact
 * (noncentral t) figure is larger: at 5 seeds and level 0.05/13, a simulation of normal
 * differences (400,000 draws) gave 73% power at this figure and needed it 8% larger for 80%. So
 * it is a lower bound on what could have been missed. A comparison that is not significant says "not
 * detected at this power", with that figure, never "no difference".
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
  /** Seeds left out: a or b has no finished run at some k there. */
  dropped: number[];
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
  return pooledBySeed(scores, a, b, ks).d;
}

/** The per-seed differences, and the seeds left out (a or b has no score at some k there: a failed or missing run). */
function pooledBySeed(scores: Score[], a: string, b: string, ks: number[]): { d: number[]; dropped: number[] } {
  const at = new Map(scores.map((s) => [`${s.method}|${s.k}|${s.seed}`, s.score]));
  const seeds = [...new Set(scores.map((s) => s.seed))].sort((x, y) => x - y);
  const d: number[] = [];
  const dropped: number[] = [];
  for (const seed of seeds) {
    const diffs = ks.map((k) => {
      const [x, y] = [at.get(`${a}|${k}|${seed}`), at.get(`${b}|${k}|${seed}`)];
      return x === undefined || y === undefined ? undefined : x - y;
    });
    if (diffs.every((v) => v !== undefined)) d.push(diffs.reduce((s, v) => s + v!, 0) / diffs.length);
    else dropped.push(seed);
  }
  return { d, dropped };
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
    const { d, dropped } = pooledBySeed(scores, a, b, ks);
    const n = d.length;
    const mean = d.reduce((s, v) => s + v, 0) / Math.max(1, n);
    const sd = n > 1 ? Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : Number.NaN;
    // No spread (or one seed): no t test; such a row is reported untested, never significant.
    const p = n > 1 && sd > 0 ? 2 * (1 - tCdf(Math.abs(mean / (sd / Math.sqrt(n))), n - 1)) : Number.NaN;
    return { a, b, n, dropped, ks, mean, sd, p };
  });
  // m counts every comparison asked for: one that cannot be tested does not shrink the correction.
  const m = rows.length;
  const tested = rows.filter((r) => Number.isFinite(r.p)).sort((x, y) => x.p - y.p);
  const levels = new Map<(typeof rows)[number], number>();
  const holm = new Map<(typeof rows)[number], number>();
  let stopped: number | undefined;
  let running = 0;
  tested.forEach((r, i) => {
    const level = alpha / (m - i);
    // Holm stops at its first non-rejection; every later comparison stays at that level.
    levels.set(r, stopped ?? level);
    if (stopped === undefined && r.p > level) stopped = level;
    running = Math.max(running, Math.min(1, (m - i) * r.p));
    holm.set(r, running);
  });
  return rows.map((r) => {
    if (!Number.isFinite(r.p))
      return {
        ...r,
        holm: Number.NaN,
        level: Number.NaN,
        lo: Number.NaN,
        hi: Number.NaN,
        detectable: Number.NaN,
        verdict:
          r.n < 2
            ? `not tested: ${r.n} seed${r.n === 1 ? '' : 's'} with both methods at every k`
            : 'not tested: the per-seed differences do not vary (no spread to test against)',
      };
    const level = levels.get(r)!;
    const h = holm.get(r)!;
    const se = r.sd / Math.sqrt(r.n);
    const half = tQuantile(1 - level / 2, r.n - 1) * se;
    const detectable = (tQuantile(1 - level / 2, r.n - 1) + tQuantile(0.8, r.n - 1)) * se;
    const verdict =
      h < alpha
        ? `${r.a} ${r.mean > 0 ? 'ahead of' : 'behind'} ${r.b} by ${pct(Math.abs(r.mean)).slice(1)} points (Holm p = ${h.toPrecision(2)})`
        : `not detected at this power: a difference smaller than about ${(100 * detectable).toFixed(1)} points would likely be missed`;
    return { ...r, holm: h, level, lo: r.mean - half, hi: r.mean + half, detectable, verdict };
  });
}

/** The comparisons as a Markdown table (points), with how to read it. */
export function pooledTable(rows: PooledComparison[], alpha = 0.05): string[] {
  if (!rows.length) return [];
  return [
    `Per seed, one difference: the mean over k = ${rows[0].ks.join(', ')} of (a - b), in accuracy points. Over the seeds: its mean, a paired t test, Holm's correction over the ${rows.length} comparisons at ${alpha}, the interval at the level Holm tests each one (after Holm stops, the level it stopped at), and about the smallest difference this test would detect with 80% power (a central-t approximation: the exact figure is somewhat larger).`,
    '',
    '| a - b | seeds | mean | Holm-level interval | p | Holm p | smallest detectable | verdict |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) =>
      Number.isFinite(r.holm)
        ? `| ${r.a} - ${r.b} | ${r.n} | ${pct(r.mean)} | [${pct(r.lo)}, ${pct(r.hi)}] at ${(100 * (1 - r.level)).toFixed(1)}% | ${r.p.toPrecision(2)} | ${r.holm.toPrecision(2)} | ${(100 * r.detectable).toFixed(1)} | ${r.verdict} |`
        : `| ${r.a} - ${r.b} | ${r.n} | - | - | - | - | - | ${r.verdict} |`,
    ),
    ...rows
      .filter((r) => r.dropped.length)
      .map(
        (r) =>
          `\n${r.a} - ${r.b} leaves out seed${r.dropped.length > 1 ? 's' : ''} ${r.dropped.join(', ')}: a run of one of them did not finish at some k.`,
      ),
  ];
}
