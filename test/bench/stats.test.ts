/**
 * The benchmark's paired statistics: the t interval against scipy's (scipy.stats.t.ppf(0.975, 4)
 * on the same five differences: [-0.017644, 0.041644], computed once with scipy 1.17 and written
 * here), pairing by seed (a seed only one method ran, or a diverged run, is left out), win
 * counts, and the best method by mean.
 */
import { describe, expect, it } from 'vitest';
import { bestAt, paired, reading, tInterval, type Paired } from '../../bench/vqa/stats.ts';
import type { ResultFile, RunRecord } from '../../bench/vqa/results.ts';

const run = (method: string, seed: number, accuracy: number | null): RunRecord => ({
  method,
  setting: 'vl',
  k: 16,
  seed,
  status: accuracy === null ? 'diverged' : 'ok',
  ...(accuracy === null ? {} : { test: { accuracy, exactMatch: accuracy } }),
  epochs: 1,
  steps: 1,
  stoppedEarly: false,
  trainable: 1,
  seconds: 1,
});

const file = (runs: RunRecord[]): ResultFile => ({
  format: 'peftgraph-bench-vqa-1',
  runs: Object.fromEntries(runs.map((r) => [`${r.method}|${r.seed}`, r])),
});

describe('bench vqa statistics', () => {
  it("tInterval matches scipy's 95% t interval", () => {
    const t = tInterval([0.01, -0.02, 0.03, 0.04, 0]);
    expect(t.mean).toBeCloseTo(0.012, 12);
    expect(t.lo).toBeCloseTo(-0.017644321650666143, 5);
    expect(t.hi).toBeCloseTo(0.041644321650666144, 5);
    expect(Number.isNaN(tInterval([0.1]).lo)).toBe(true);
  });

  it('pairs by seed, leaves out unpaired and diverged runs, and counts wins, ties and losses', () => {
    const f = file([
      run('a', 1, 0.5),
      run('b', 1, 0.4),
      run('a', 2, 0.3),
      run('b', 2, 0.3),
      run('a', 3, 0.2),
      run('b', 3, 0.6),
      run('a', 4, 0.9),
      run('b', 5, 0.1),
      run('a', 6, null),
      run('b', 6, 0.2),
    ]);
    const p = paired(f, 'a', 'b', 16);
    expect(p.n).toBe(3); // seeds 1-3
    expect(p.mean).toBeCloseTo((0.1 + 0 - 0.4) / 3, 12);
    expect([p.wins, p.ties, p.losses]).toEqual([1, 1, 1]);
    expect(paired(f, 'a', 'b', 32).n).toBe(0);
  });

  it('bestAt picks the highest mean at that k', () => {
    const f = file([run('a', 1, 0.5), run('a', 2, 0.1), run('b', 1, 0.35), run('b', 2, 0.35), run('c', 1, null)]);
    expect(bestAt(f, ['a', 'b', 'c'], 16)).toBe('b');
    expect(bestAt(f, ['c'], 16)).toBeUndefined();
  });

  it('reads a k as ahead or behind only when the whole interval is on one side of 0', () => {
    const p = (lo: number, hi: number): Paired => ({ n: 5, mean: (lo + hi) / 2, lo, hi, wins: 0, ties: 0, losses: 0 });
    const one: Paired = { n: 1, mean: 0.2, lo: NaN, hi: NaN, wins: 1, ties: 0, losses: 0 };
    expect(
      reading([
        { k: 16, p: p(0.01, 0.05) },
        { k: 32, p: p(-0.05, -0.01) },
        { k: 64, p: p(-0.01, 0.03) },
        { k: 100, p: one },
        { k: 500, p: p(-0.02, -0.001) },
      ]),
    ).toBe('ahead at k=16; behind at k=32, 500; not separated at k=64, 100');
  });
});
