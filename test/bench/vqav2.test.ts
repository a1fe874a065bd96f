/**
 * bench/vqav2, end to end on tiny HF-layout towers and a VQAv2-format sample
 * (test/fixtures/vqav2, made by bench/vqav2/make-fixture.ts): two shards of a grid run as two
 * CI jobs would, resume, merge into one table; results are bound to their configuration; every
 * method's spec is built and lowered for an encoder and a T5 text tower.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METHODS } from '../../bench/vqav2/methods.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { ROOT } from '../helpers/cli.ts';

const FIX = join(ROOT, 'test', 'fixtures');
const grid = (...args: string[]) =>
  spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'bench', 'vqav2', 'run.ts'), ...args],
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
  );
const towers = [
  '--train',
  join(FIX, 'vqav2', 'train'),
  '--test',
  join(FIX, 'vqav2', 'val'),
  '--vision',
  join(FIX, 'hf', 'vit'),
  '--text',
  join(FIX, 'hf', 'bert'),
  '--tokenizer',
  join(FIX, 'tokenizers', 'wordpiece'),
  '--answers',
  '16',
  '--reduction',
  '4',
  '--max-len',
  '10',
  '--batch',
  '4',
  '--budget',
  '0.2',
];

describe('bench/vqav2', () => {
  const work = mkdtempSync(join(tmpdir(), 'peftgraph-vqav2-'));
  const cells = ['--methods', 'lora,mixphm', '--k', '4', '--seeds', '13,21'];

  it('runs a grid in shards, resumes, and merges the shards into one table', () => {
    for (const s of [1, 2]) {
      const r = grid(...towers, ...cells, '--shard', `${s}/2`, '--out', join(work, `shard-${s}`));
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toContain(`4 cells (2 methods x k 4 x seeds 13,21); shard ${s}/2: 2, 0 done, 2 to run`);
      expect(r.stdout).toMatch(/\[2\/2\] \w+ k=4 seed=\d+: test \d+\.\d in \d+ s/);
    }
    // A rerun finds its cells done.
    const again = grid(...towers, ...cells, '--shard', '1/2', '--out', join(work, 'shard-1'));
    expect(again.stdout).toContain('shard 1/2: 2, 2 done, 0 to run');
    const m = grid(
      '--merge',
      '--out',
      join(work, 'all'),
      ...[1, 2].map((s) => join(work, `shard-${s}`, 'results.json')),
    );
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout).toContain('merged 4 runs from 2 files');
    const table = readFileSync(join(work, 'all', 'results.md'), 'utf8');
    expect(table).toMatch(/\| lora \| [\d,]+ \| \d+\.\d ± \d+\.\d \(2\) \|/);
    expect(table).toMatch(/\| mixphm \| [\d,]+ \| \d+\.\d ± \d+\.\d \(2\) \|/);
    // The claim read once per seed, pooled over k, Holm-corrected (two seeds: tested, at low power).
    expect(table).toContain('## MixPHM against each method, pooled over k, Holm-corrected');
    expect(table).toMatch(/\| mixphm - lora \| 2 \| /);
    const results = JSON.parse(readFileSync(join(work, 'all', 'results.json'), 'utf8'));
    for (const r of Object.values(results.runs) as { status: string; test: number }[]) {
      expect(r.status).toBe('ok');
      expect(r.test).toBeGreaterThanOrEqual(0);
      expect(r.test).toBeLessThanOrEqual(1);
    }
    // A merge missing a shard names the cells no shard ran.
    const half = grid('--merge', '--out', join(work, 'half'), join(work, 'shard-1', 'results.json'));
    expect(half.stdout).toContain('; 2 of 4 cells missing');
    expect(readFileSync(join(work, 'half', 'results.md'), 'utf8')).toMatch(
      /2 of 4 cells are missing \(no shard ran them\): /,
    );
    // Each cell is a `peftgraph train` run with its own directory (checkpoints, test.json, the card).
    expect(existsSync(join(work, 'shard-1', 'runs', 'lora-k4-s13', 'test.json'))).toBe(true);
  }, 300_000);

  it('binds results to their configuration, says what the runs would be, and runs a T5 text tower', () => {
    const other = grid(...towers.map((a) => (a === '16' ? '12' : a)), ...cells, '--out', join(work, 'shard-1'));
    expect(other.status).not.toBe(0);
    expect(other.stderr).toMatch(/holds runs of another configuration \(answers: 16 vs 12; shards: 2 vs 1\)/);
    const dry = grid(
      ...towers,
      '--methods',
      'bitfit',
      '--k',
      '16',
      '--seeds',
      '13',
      '--dry-run',
      '--out',
      join(work, 'dry'),
    );
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /bin\/peftgraph\.mjs train .*bitfit\.json --data .* --k 16 --seed 13 --epochs \d+ .*--lr 0\.005/,
    );
    // T5 writes its answers: a cell runs and is scored from the decoded text.
    const t5 = towers.map((a) =>
      a.replace(/hf\/bert$/, 'hf/t5').replace(/tokenizers\/wordpiece$/, 'tokenizers/unigram'),
    );
    const r = grid(
      ...t5,
      '--methods',
      'mixphm',
      '--k',
      '4',
      '--seeds',
      '13',
      '--answer-len',
      '4',
      '--out',
      join(work, 't5'),
    );
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\[1\/1\] mixphm k=4 seed=13: test \d+\.\d in \d+ s/);
  });

  it("records a failed run with the CLI's error line, and reruns it only with --retry-failed", () => {
    // k = 40 needs 80 training records; the sample has 32.
    const args = [...towers, '--methods', 'lora', '--k', '40', '--seeds', '13', '--out', join(work, 'fail')];
    const r = grid(...args);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /lora k=40 seed=13: failed \(peftgraph: k = 40 needs 80 records .*\(exit 1; .*log\.txt\)\)/,
    );
    expect(readFileSync(join(work, 'fail', 'results.md'), 'utf8')).toContain('| lora |');
    expect(grid(...args).stdout).toContain('1 done, 0 to run');
    expect(grid(...args, '--retry-failed').stdout).toContain('0 done, 1 to run');
  });

  it('tunes every method over one learning-rate grid on a tuning seed, dev only, and the grid then runs the choice', () => {
    const out = join(work, 'tuned');
    const tuneArgs = [
      ...towers,
      '--methods',
      'lora,mixphm',
      '--tune',
      '--lrs',
      '1e-3,2e-2',
      '--tune-k',
      '4',
      '--out',
      out,
    ];
    expect(grid(...tuneArgs, '--tune-seed', '13').stderr).toMatch(/--tune-seed 13 is a reporting seed/);
    const t = grid(...tuneArgs);
    expect(t.status, t.stderr + t.stdout).toBe(0);
    const tuning = JSON.parse(readFileSync(join(out, 'tuning.json'), 'utf8'));
    expect(tuning.setup).toMatchObject({ k: 4, seed: 7, lrs: '0.001,0.02' });
    for (const m of ['lora', 'mixphm']) {
      // The oracle: each tuning run's own best dev accuracy (history.json), the larger wins, ties to the smaller rate.
      const dev = [0.001, 0.02].map((lr) => {
        const h = JSON.parse(readFileSync(join(out, 'tuning', `${m}-lr${lr}`, 'history.json'), 'utf8')) as {
          dev?: { accuracy: number };
        }[];
        return Math.max(...h.filter((x) => x.dev).map((x) => x.dev!.accuracy));
      });
      expect(tuning.chosen[m]).toBe(dev[1] > dev[0] ? 0.02 : 0.001);
      // No test split was given to a tuning run.
      expect(existsSync(join(out, 'tuning', `${m}-lr0.001`, 'test.json'))).toBe(false);
    }
    const dry = grid(...towers, '--methods', 'lora,mixphm', '--k', '4', '--seeds', '13', '--dry-run', '--out', out);
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`--lr ${tuning.chosen.lora} `);
    expect(
      grid(...towers, '--methods', 'lora,full', '--k', '4', '--seeds', '13', '--dry-run', '--out', out).stderr,
    ).toMatch(/tuning\.json has no learning rate for full: tune them/);
  });

  it("builds every method's spec for an encoder and a T5 text tower", () => {
    for (const text of ['bert', 't5'])
      for (const m of METHODS) {
        const t = {
          vision: join(FIX, 'hf', 'vit'),
          text: join(FIX, 'hf', text),
          answers: 16,
          maxLen: 8,
          answerLen: 4,
          reduction: 4,
        };
        expect(() => lowerModel(m.model(t).spec, { batch: 2, mode: 'train' }), `${text} ${m.name}`).not.toThrow();
      }
  });
});
