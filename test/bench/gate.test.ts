/**
 * bench/vqa/gate.ts, the reading that decides whether a routing setting's grid may run: on copies
 * of the committed gate JSONs, its verdict against one recomputed here from the files, and every
 * mutation of a JSON either read as the predicate below says it is valid, or refused by name.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GATE_RATES, gateVerdict, readGateRun } from '../../bench/vqa/gate.ts';
import { SETTINGS } from '../../bench/vqa/methods.ts';
import { prng } from '../../src/runtime/init.ts';
import { mutator } from '../helpers/mutate.ts';

const RESULTS = join(import.meta.dirname, '../../bench/vqa/results');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
/** A results folder holding copies of the committed gate runs of one check. */
function copies(check: 'routing' | 'caption', methods: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'gate-'));
  dirs.push(dir);
  for (const m of methods)
    for (const lr of GATE_RATES) {
      const name = `${check}-check-${m}-lr${lr}.json`;
      copyFileSync(join(RESULTS, name), join(dir, name));
    }
  return dir;
}

describe('gate.ts', () => {
  it('reads the best-dev rate of full finetuning and compares its ceiling, as the JSONs say', () => {
    const dir = copies('routing', ['full']);
    const runs = GATE_RATES.map((lr) => JSON.parse(readFileSync(join(dir, `routing-check-full-lr${lr}.json`), 'utf8')));
    const best = runs.reduce((a, r) => (r.ceiling.dev > a.ceiling.dev ? r : a));
    const score = best.ceiling.overall as number;
    expect(gateVerdict(dir, 'routing', 'near-routing', score)).toBe('met');
    expect(gateVerdict(dir, 'routing', 'near-routing', score + 1e-6)).toBe(
      `not met (best dev at lr ${best.ceiling.lr}: ${score.toFixed(3)})`,
    );
    expect(gateVerdict(dir, 'routing', 'near-routing', null)).toBeNull();
    const cap = copies('caption', ['full', 'lora-none']);
    const capBest = GATE_RATES.map(
      (lr) => JSON.parse(readFileSync(join(cap, `caption-check-full-lr${lr}.json`), 'utf8')).ceiling,
    ).reduce((a, c) => (c.dev > a.dev ? c : a));
    expect(gateVerdict(cap, 'caption', 'caption', capBest.cider)).toBe('met');
  });

  it('refuses a missing rate, a file that is not JSON and a stale one, naming the file', () => {
    const dir = copies('routing', ['full']);
    rmSync(join(dir, 'routing-check-full-lr3e-3.json'));
    expect(() => gateVerdict(dir, 'routing', 'near-routing', 0.85)).toThrow(/full finetuning has 2 of 3 rates run/);
    expect(gateVerdict(dir, 'routing', 'near-routing', null)).toBeNull();
    writeFileSync(join(dir, 'routing-check-lora-none-lr1e-3.json'), '{"checkpoints": [');
    expect(() => gateVerdict(dir, 'routing', 'near-routing', null)).toThrow(/lora-none-lr1e-3\.json is not JSON/);
    // The JSON of the gate's first run, made on the first vision stage.
    copyFileSync(
      join(RESULTS, 'routing-check-full-lr3e-4-vision1.json'),
      join(dir, 'routing-check-lora-none-lr1e-3.json'),
    );
    expect(() => gateVerdict(dir, 'routing', 'near-routing', null)).toThrow(
      /lora-none-lr1e-3\.json was made on hf-near-vision, .*reads hf-near-vision2/,
    );
  });

  it('reads a mutated gate JSON only where it is valid, and refuses the rest by name', () => {
    const r = prng(35);
    const weird = [null, 'x', -1, 0, Number.POSITIVE_INFINITY, [], {}, ['hf-near-vision2'], true, Number.NaN];
    const mutate = mutator(r, weird, 3);
    const dir = copies('routing', ['full']);
    const path = join(dir, 'routing-check-full-lr1e-3.json');
    const base = JSON.parse(readFileSync(path, 'utf8'));
    const files = SETTINGS['near-routing'].files;
    const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
    const valid = (o: Record<string, unknown>): boolean => {
      const ck = o.checkpoints;
      const c = o.ceiling as Record<string, unknown> | null | undefined;
      return (
        Array.isArray(ck) &&
        ck.length === files.length &&
        ck.every((x, i) => String(x) === files[i]) &&
        typeof c === 'object' &&
        c !== null &&
        num(c.dev) &&
        num(c.lr) &&
        num(c.overall)
      );
    };
    let [read, refused] = [0, 0];
    for (let i = 0; i < 120; i++) {
      const o = mutate(base) as Record<string, unknown>;
      // JSON has no NaN or Infinity: written as a file, they become null, as a crashed writer's would.
      writeFileSync(path, JSON.stringify(o));
      const back = JSON.parse(readFileSync(path, 'utf8'));
      const shown = JSON.stringify({ checkpoints: back.checkpoints, ceiling: back.ceiling });
      try {
        readGateRun(dir, 'routing', 'near-routing', 'full', '1e-3');
      } catch (e) {
        expect((e as Error).message, shown).toMatch(/^gate: .*routing-check-full-lr1e-3\.json /);
        expect(valid(back), `refused a valid one: ${shown}`).toBe(false);
        refused++;
        continue;
      }
      expect(valid(back), `read an invalid one: ${shown}`).toBe(true);
      read++;
    }
    // Both outcomes represented (this seed: 100 read, 20 refused; most mutations hit other keys).
    expect(read).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(10);
  });

  it("is near-routing.sh's one list of rates", () => {
    const out = execFileSync('npx', ['tsx', join(RESULTS, '../gate.ts'), 'rates'], { encoding: 'utf8' });
    expect(out.trim().split(' ')).toEqual(GATE_RATES);
    const script = readFileSync(join(RESULTS, '../near-routing.sh'), 'utf8');
    expect(script).toContain('gate.ts rates');
    expect(script).not.toMatch(/for lr in \d/);
  });
});
