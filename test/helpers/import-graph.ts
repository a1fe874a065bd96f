/**
 * The value-import graph of the TypeScript sources (`import type` and `export type` are erased,
 * so they are left out): what loading a module really loads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface ImportGraph {
  /** Module file -> the module files it imports by value. */
  edges: Map<string, string[]>;
  /** Package names imported (the part before the first `/`, scoped packages as `@scope`). */
  packages: Set<string>;
}

function resolveModule(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  if (existsSync(base) && base.endsWith('.ts')) return base;
  for (const cand of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(cand)) return cand;
  throw new Error(`${from}: cannot resolve '${spec}'`);
}

/** Every module reachable from `entries` by value imports. */
export function importGraph(...entries: string[]): ImportGraph {
  const edges = new Map<string, string[]>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (edges.has(file)) return;
    const deps: string[] = [];
    edges.set(file, deps);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^(?:import|export)\s+(?!type\b)(?:[^;]*?from\s+)?'([^']+)'/gm)) {
      const spec = m[1];
      if (spec.startsWith('.')) deps.push(resolveModule(file, spec));
      else if (!spec.startsWith('node:')) packages.add(spec.split('/')[0]);
    }
    for (const d of deps) visit(d);
  };
  for (const e of entries) visit(e);
  return { edges, packages };
}

/** The import cycles: strongly connected components of more than one module, or a module importing itself. */
export function importCycles(g: ImportGraph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const connect = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.edges.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || g.edges.get(v)?.includes(v)) cycles.push(scc.sort());
    }
  };
  for (const v of g.edges.keys()) if (!index.has(v)) connect(v);
  return cycles;
}
