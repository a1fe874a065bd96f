/**
 * The pooled, Holm-corrected reading of a grid (bench/vqa/pooled.ts), against hand computation
 * and Student's t table (t_{0.975, 4} = 2.776, t_{0.8, 4} = 0.941): the per-seed pooling over k,
 * Holm's adjusted p values, the interval at Holm's level, the smallest detectable difference.
 */
import { describe, expect, it } from 'vitest';
import { holmAdjust, perSeedDifferences, pooledComparisons, pooledTable, type Score } from '../../bench/vqa/pooled.ts';

const T975_4 = 2.776445;
const T80_4 = 0.940965;

describe('the pooled reading', () => {
  it('pools each seed over k, leaving out seeds missing a cell', () => {
    const s: Score[] = [
      { method: 'a', k: 16, seed: 1, score: 0.5 },
      { method: 'a', k: 64, seed: 1, score: 0.7 },
      { method: 'b', k: 16, seed: 1, score: 0.4 },
      { method: 'b', k: 64, seed: 1, score: 0.4 },
      { method: 'a', k: 16, seed: 2, score: 0.5 },
      { method: 'b', k: 16, seed: 2, score: 0.5 },
    ];
    // Seed 1: ((0.5 - 0.4) + (0.7 - 0.4)) / 2 = 0.2; seed 2 lacks k = 64.
    expect(perSeedDifferences(s, 'a', 'b', [16, 64])).toEqual([expect.closeTo(0.2, 12)]);
    expect(perSeedDifferences(s, 'a', 'b', [16])).toEqual([expect.closeTo(0.1, 12), 0]);
  });

  it("adjusts p values by Holm's step-down", () => {
    // Sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04, raised to 0.06 (monotone).
    const h = holmAdjust([0.01, 0.04, 0.03]);
    expect(h.map((x) => +x.toFixed(12))).toEqual([0.03, 0.06, 0.06]);
  });

  it("tests at Holm's level: a difference of exactly t_{0.975,4} standard errors sits on the 5% boundary", () => {
    // Five seeds; per-seed differences with sd 0.0158114 (deviations 0, ±0.02, ±0.01), se = sd / sqrt(5).
    const se = Math.sqrt(2.5e-4) / Math.sqrt(5);
    const mean = T975_4 * se;
    const dev = [0, 0.02, -0.02, 0.01, -0.01];
    const scores: Score[] = dev.flatMap((d, seed) => [
      { method: 'a', k: 16, seed, score: 0.5 + mean + d },
      { method: 'b', k: 16, seed, score: 0.5 },
    ]);
    const [r] = pooledComparisons(scores, [['a', 'b']], [16]);
    expect(r.n).toBe(5);
    expect(r.mean).toBeCloseTo(mean, 12);
    expect(r.p).toBeCloseTo(0.05, 5);
    expect(r.holm).toBeCloseTo(0.05, 5);
    expect(r.level).toBe(0.05);
    expect(r.lo).toBeCloseTo(0, 5);
    expect(r.hi).toBeCloseTo(2 * mean, 5);
    expect(r.detectable).toBeCloseTo((T975_4 + T80_4) * se, 5);
    // With a second, clearer comparison, Holm tests this one at 0.05 / 1 only after that one (at 0.025).
    const clear: Score[] = dev.flatMap((d, seed) => [
      { method: 'c', k: 16, seed, score: 0.9 + d },
      { method: 'b', k: 16, seed, score: 0.5 },
    ]);
    const two = pooledComparisons(
      [...scores, ...clear],
      [
        ['a', 'b'],
        ['c', 'b'],
      ],
      [16],
    );
    expect(two[1].level).toBe(0.025);
    expect(two[0].level).toBe(0.05);
    expect(two[1].verdict).toMatch(/^c ahead of b by 40\.0 points \(Holm p = /);
    // A difference of zero: not detected, with the smallest difference that would be.
    const none = pooledComparisons(
      dev.flatMap((d, seed) => [
        { method: 'a', k: 16, seed, score: 0.5 + d },
        { method: 'b', k: 16, seed, score: 0.5 },
      ]),
      [['a', 'b']],
      [16],
    );
    expect(none[0].verdict).toMatch(
      /^not detected at this power: a difference smaller than about 2\.6 points would likely be missed$/,
    );
    expect(pooledTable(none).join('\n')).toMatch(/\| a - b \| 5 \| \+0\.0 \| \[-2\.0, \+2\.0\] at 95\.0% \|/);
  });

  it('holds every comparison after the first Holm does not reject at the level it stopped at; no spread is not tested', () => {
    const dev = [0, 0.02, -0.02, 0.01, -0.01];
    const se = Math.sqrt(2.5e-4) / Math.sqrt(5);
    // Three comparisons at 2.8, 2.0 and 1.0 standard errors: the first p (about 0.049) exceeds 0.05 / 3.
    const scores: Score[] = [2.8, 2.0, 1.0].flatMap((z, i) =>
      dev.flatMap((d, seed) => [
        { method: `m${i}`, k: 16, seed, score: 0.5 + z * se + d },
        { method: 'b', k: 16, seed, score: 0.5 },
      ]),
    );
    const rows = pooledComparisons(
      scores,
      [
        ['m0', 'b'],
        ['m1', 'b'],
        ['m2', 'b'],
      ],
      [16],
    );
    expect(rows.map((r) => r.level)).toEqual([0.05 / 3, 0.05 / 3, 0.05 / 3]);
    expect(rows.every((r) => r.verdict.startsWith('not detected at this power'))).toBe(true);
    // Identical per-seed differences: no spread, not tested (never a zero-width "significant" interval), still in m.
    const flat: Score[] = [0, 1, 2].flatMap((seed) => [
      { method: 'a', k: 16, seed, score: 0.6 },
      { method: 'b', k: 16, seed, score: 0.5 },
    ]);
    const [r, other] = pooledComparisons(
      [...flat, ...scores],
      [
        ['a', 'b'],
        ['m0', 'b'],
      ],
      [16],
    );
    expect(r.verdict).toBe('not tested: the per-seed differences do not vary (no spread to test against)');
    expect(other.level).toBe(0.05 / 2);
    // A seed without a run at some k is left out, and the table says so.
    const missing = pooledComparisons(
      flat.filter((s) => !(s.seed === 2 && s.method === 'a')),
      [['a', 'b']],
      [16],
    );
    expect(missing[0].dropped).toEqual([2]);
    expect(pooledTable(missing).join('\n')).toContain(
      'a - b leaves out seed 2: a run of one of them did not finish at some k.',
    );
  });
});
