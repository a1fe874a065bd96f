/**
 * The layering CONTRIBUTING.md states, checked on the source tree: the spec stands alone (the DSL
 * imports nothing of the compiler or the HF front end, not even types), and no module of src
 * imports itself through others (loading one module never half-loads another).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCycles, importGraph } from '../helpers/import-graph.ts';

const SRC = join(import.meta.dirname, '..', '..', 'src');
const tsFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

describe('source layering', () => {
  it('src has no import cycle (value imports)', () => {
    const cycles = importCycles(importGraph(...tsFiles(SRC)));
    expect(cycles.map((c) => c.map((f) => relative(SRC, f)))).toEqual([]);
  });

  it('the cycle finder finds a cycle (the check is real)', () => {
    const edges = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ]);
    expect(importCycles({ edges, packages: new Set() })).toEqual([['a', 'b', 'c']]);
  });

  it('src/dsl imports nothing from src/compiler, src/hf, src/runtime or src/train, types included', () => {
    const offending: string[] = [];
    for (const file of tsFiles(join(SRC, 'dsl')))
      for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'/gm))
        if (/^\.\.\/(\.\.\/)*(compiler|hf|runtime|train|cli|data)\//.test(m[1]))
          offending.push(`${relative(SRC, file)} -> ${m[1]}`);
    expect(offending).toEqual([]);
    // And its value imports reach no package but zod.
    expect([...importGraph(join(SRC, 'dsl', 'index.ts')).packages]).toEqual(['zod']);
  });
});
