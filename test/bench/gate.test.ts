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
import { GATE_PLAN, GATE_RATES, gateFile, gateVerdict, readGateRun } from '../../bench/vqa/gate.ts';
import { SETTINGS } from '../../bench/vqa/methods.ts';
import { prng } from '../../src/runtime/init.ts';
import { mutator } from '../helpers/mutate.ts';

const RESULTS = join(import.meta.dirname, '../../bench/vqa/results');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-'));
  dirs.push(dir);
  return dir;
};
/** A results folder holding copies of the committed caption gate runs. */
function captionCopies(): string {
  const dir = tmp();
  for (const m of ['full', 'lora/none'])
    for (const lr of GATE_RATES)
      copyFileSync(join(RESULTS, gateFile('caption', m, lr)), join(dir, gateFile('caption', m, lr)));
  return dir;
}
const read = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('gate.ts', () => {
  it("reads the ceiling method's best-dev rate and compares its ceiling, as the JSONs say", () => {
    const dir = captionCopies();
    const best = GATE_RATES.map((lr) => read(join(dir, gateFile('caption', 'full', lr))).ceiling).reduce((a, c) =>
      c.dev > a.dev ? c : a,
    );
    expect(gateVerdict(dir, 'caption', 'caption', best.cider)).toBe('met');
    expect(gateVerdict(dir, 'caption', 'caption', best.cider + 1e-6)).toBe(
      `not met (best dev at lr ${best.lr}: ${best.cider.toFixed(3)})`,
    );
    expect(gateVerdict(dir, 'caption', 'caption', null)).toBeNull();
  });

  it('refuses a missing rate, a file that is not JSON, a stale one, another method and another pool, naming the file', () => {
    const dir = captionCopies();
    rmSync(join(dir, gateFile('caption', 'full', '3e-3')));
    expect(() => gateVerdict(dir, 'caption', 'caption', 1)).toThrow(/full has 2 of 3 rates run/);
    expect(gateVerdict(dir, 'caption', 'caption', null)).toBeNull();
    const lora = join(dir, gateFile('caption', 'lora/none', '1e-3'));
    writeFileSync(lora, '{"checkpoints": [');
    expect(() => gateVerdict(dir, 'caption', 'caption', null)).toThrow(/lora-none-lr1e-3\.json is not JSON/);
    copyFileSync(join(RESULTS, gateFile('caption', 'full', '1e-3')), lora);
    expect(() => gateVerdict(dir, 'caption', 'caption', null)).toThrow(
      /lora-none-lr1e-3\.json holds a run of caption\/full, not caption\/lora\/none/,
    );
    // The routing gate's first run, made on the first vision stage, under the name of a current one.
    const r = tmp();
    const name = gateFile('routing', 'full-text', '1e-3');
    writeFileSync(
      join(r, name),
      JSON.stringify({
        ...read(join(RESULTS, 'routing-check-full-lr3e-4-vision1.json')),
        method: 'near-routing/full-text',
        pool: 16000,
      }),
    );
    expect(() => readGateRun(r, 'routing', 'near-routing', 'full-text', '1e-3')).toThrow(
      /was made on hf-near-vision, .*reads hf-near-vision2/,
    );
    // The same method on the 2,000-question pool, where the gate now reads 16,000.
    copyFileSync(join(RESULTS, 'routing-check-full-text-lr1e-3.json'), join(r, name));
    expect(() => readGateRun(r, 'routing', 'near-routing', 'full-text', '1e-3')).toThrow(
      /trained on a pool of 2000; the gate reads a pool of 16000/,
    );
  });

  it('reads a mutated gate JSON only where it is valid, and refuses the rest by name', () => {
    const r = prng(35);
    const weird = [null, 'x', -1, 0, 16000, Number.POSITIVE_INFINITY, [], {}, ['hf-near-vision2'], true, Number.NaN];
    const mutate = mutator(r, weird, 3);
    const dir = tmp();
    const name = gateFile('routing', 'full-text', '1e-3');
    const base = read(join(RESULTS, name));
    const path = join(dir, name);
    const files = SETTINGS['near-routing'].files;
    const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
    const valid = (o: Record<string, unknown>): boolean => {
      const ck = o.checkpoints;
      const c = o.ceiling as Record<string, unknown> | null | undefined;
      return (
        o.method === 'near-routing/full-text' &&
        o.pool === GATE_PLAN.routing.pool &&
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
    let [accepted, refused] = [0, 0];
    for (let i = 0; i < 150; i++) {
      // JSON has no NaN or Infinity: written as a file, they become null, as a crashed writer's would.
      writeFileSync(path, JSON.stringify(mutate(base)));
      const back = read(path);
      const shown = JSON.stringify({
        method: back.method,
        pool: back.pool,
        checkpoints: back.checkpoints,
        ceiling: back.ceiling,
      });
      try {
        readGateRun(dir, 'routing', 'near-routing', 'full-text', '1e-3');
      } catch (e) {
        expect((e as Error).message, shown).toMatch(/^gate: .*routing-check-full-text-lr1e-3-pool16000\.json /);
        expect(valid(back), `refused a valid one: ${shown}`).toBe(false);
        refused++;
        continue;
      }
      expect(valid(back), `read an invalid one: ${shown}`).toBe(true);
      accepted++;
    }
    // Both outcomes represented (most mutations hit keys the gate does not read).
    expect(accepted).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(15);
  });

  it("is near-routing.sh's one plan: ceiling method, pool and rates", () => {
    const out = execFileSync('npx', ['tsx', join(RESULTS, '../gate.ts'), 'plan', 'routing'], { encoding: 'utf8' });
    expect(out.trim()).toBe(
      `ceiling=${GATE_PLAN.routing.ceiling}; pool=${GATE_PLAN.routing.pool}; rates='${GATE_RATES.join(' ')}'`,
    );
    const script = readFileSync(join(RESULTS, '../near-routing.sh'), 'utf8');
    expect(script).toContain('plan=$(npx tsx bench/vqa/gate.ts plan "$1")');
    expect(script).not.toMatch(/for lr in \d|--pool \d|for m in full /);
  });
});
