/** Loading user files: a spec (.ts module with a default export, or .json) and a data module. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseSpec, SpecError, type ModelSpec } from '../dsl/spec.ts';
import type { Dataset } from '../runtime/data.ts';

export async function loadSpec(path: string): Promise<ModelSpec> {
  if (path.endsWith('.json')) return parseSpec(JSON.parse(readFileSync(path, 'utf8')));
  const mod = await import(pathToFileURL(resolve(path)).href);
  const exp = mod.default ?? mod.spec;
  if (typeof exp !== 'object' || exp === null) throw new SpecError(`${path}: expected a default export (a vl.model(...) builder or a ModelSpec), got ${exp === undefined ? 'none' : JSON.stringify(exp)}`);
  return parseSpec('spec' in exp ? exp.spec : exp);
}

export interface DataModule {
  train: Dataset;
  dev?: Dataset;
  test?: Dataset;
}

/** A data module exports `default` (or `load`): (opts: { seed }) => { train, dev?, test? }. */
export async function loadData(path: string, seed: number): Promise<DataModule> {
  const mod = await import(pathToFileURL(resolve(path)).href);
  const fn = mod.default ?? mod.load;
  if (typeof fn !== 'function') throw new Error(`${path}: expected a default export function ({ seed }) => ({ train, dev, test })`);
  return fn({ seed });
}
