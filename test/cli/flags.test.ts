/** CLI flags are checked as they are parsed: issue 14's misuses each end in one line naming the flag and what it takes, exit 1. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'bin', 'peftgraph.mjs'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('CLI flag validation', () => {
  it.each([
    [['--epochs', 'abc'], /'--epochs <n>' argument 'abc' is invalid\. must be an integer >= 1/],
    [['--epochs', '0'], /'--epochs <n>' argument '0' is invalid/],
    [['--lr', '-1'], /'--lr <x>' argument '-1' is invalid\. must be a number > 0/],
    [['--seed', 'abc'], /'--seed <n>' argument 'abc' is invalid\. must be an integer in \[0, 4294967295\]/],
    [['--optimizer', 'adam'], /'--optimizer <name>' argument 'adam' is invalid\. Allowed choices are adamw, sgd/],
    [['--schedule', 'foo'], /Allowed choices are linear, cosine, constant/],
    [['--batch', '2.5'], /'--batch <n>' argument '2\.5' is invalid/],
    [['--warmup', '2'], /'--warmup <frac>' argument '2' is invalid\. must be a number >= 0 and <= 1/],
    [['--clip', '-1'], /'--clip <x>' argument '-1' is invalid/],
  ])('train %j', (flag, message) => {
    const r = run('train', 'examples/quadrants.spec.ts', '--data', 'examples/quadrants.data.ts', ...(flag as string[]));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('explain --mode foo', () => {
    const r = run('explain', 'examples/quadrants.spec.ts', '--mode', 'foo');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/'--mode <mode>' argument 'foo' is invalid\. Allowed choices are train, infer/);
  });

  it('a spec outside any project that has peftgraph: says where node looked, no require stack', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-nopkg-'));
    writeFileSync(join(dir, 'spec.ts'), "import { spec } from 'peftgraph';\nexport default spec;\n");
    const r = run('explain', join(dir, 'spec.ts'));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`imports 'peftgraph', which node looks for from ${dir} upwards`);
    expect(r.stderr).not.toMatch(/Require stack/);
  });

  it("a .ts spec's own errors name the file (not an internal error); only named exports are named", () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-specs-'));
    const towers =
      'text: vl.encoder({ vocab: 10, maxLen: 4, width: 8, depth: 1, heads: 1 }), head: vl.classifier({ answers: 3 })';
    writeFileSync(
      join(dir, 'bad.ts'),
      `import { vl } from '${join(ROOT, 'src', 'index.ts')}';\nexport default vl.model({ ${towers}, visualPrefix: 'pool' } as never);\n`,
    );
    writeFileSync(
      join(dir, 'named.ts'),
      `import { vl } from '${join(ROOT, 'src', 'index.ts')}';\nexport const model = vl.model({ ${towers} });\n`,
    );
    const bad = run('explain', join(dir, 'bad.ts'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(
      /bad\.ts: invalid model spec:\n {2}visualPrefix: "pool" is not valid \(did you mean "pooled"\?\)/,
    );
    expect(bad.stderr).not.toMatch(/internal error|\n\s+at /);
    const named = run('explain', join(dir, 'named.ts'));
    expect(named.stderr).toContain('named.ts: no default export; it exports model: add `export default model;`');
  });
});
