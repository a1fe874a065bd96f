/** Loading user files: a spec (.ts module with a default export, or .json) and a data module. */
import { readJsonFile } from '../runtime/files.ts';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseSpec, SpecError, type ModelSpec } from '../dsl/spec.ts';
import { DataError } from '../data/errors.ts';
import { UserError } from '../user-error.ts';
import type { Dataset } from '../runtime/data.ts';

/**
 * A TypeScript user file needs a TS loader. Running from source (this module is .ts under tsx or
 * vitest) there is one already; the installed build registers tsx the first time a .ts file is
 * loaded, so plain-JS and JSON use never loads it.
 */
let tsLoader = import.meta.url.endsWith('.ts');
async function ensureTsLoader(path: string): Promise<void> {
  if (tsLoader || !/\.[cm]?tsx?$/.test(path)) return;
  const { register } = await import('tsx/esm/api');
  register();
  tsLoader = true;
}

/**
 * Imports a user's module. A missing file, or a module that fails to load (syntax error, a
 * throw at top level), is the user's error; errors our own code raised while it ran keep their type.
 */
async function importUser(path: string, what: string, Err: new (m: string) => UserError): Promise<Record<string, unknown>> {
  if (!existsSync(path) || !statSync(path).isFile()) throw new Err(`${path}: no such ${what} file`);
  await ensureTsLoader(path);
  try {
    return await import(pathToFileURL(resolve(path)).href);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new Err(`${path}: the ${what} module failed to load: ${(e as Error).message}`);
  }
}

export async function loadSpec(path: string): Promise<ModelSpec> {
  if (path.endsWith('.json')) {
    if (!existsSync(path)) throw new SpecError(`${path}: no such spec file`);
    let json: unknown;
    try {
      json = readJsonFile(path, 'spec');
    } catch (e) {
      throw new SpecError((e as Error).message);
    }
    return parseSpec(json);
  }
  const mod = await importUser(path, 'spec', SpecError);
  const exp = mod.default ?? mod.spec;
  if (typeof exp !== 'object' || exp === null)
    throw new SpecError(`${path}: expected a default export (a vl.model(...) builder or a ModelSpec), got ${exp === undefined ? 'none' : JSON.stringify(exp)}`);
  return parseSpec('spec' in exp ? (exp as { spec: unknown }).spec : exp);
}

export interface DataModule {
  train: Dataset;
  dev?: Dataset;
  test?: Dataset;
}

/** A data module exports `default` (or `load`): (opts: { seed }) => { train, dev?, test? }. */
export async function loadData(path: string, seed: number): Promise<DataModule> {
  const mod = await importUser(path, 'data', DataError);
  const fn = mod.default ?? mod.load;
  if (typeof fn !== 'function') throw new DataError(`${path}: expected a default export function ({ seed }) => ({ train, dev, test })`);
  const data = await fn({ seed });
  if (typeof data !== 'object' || data === null || !('train' in data)) throw new DataError(`${path}: the data function must return { train, dev?, test? }`);
  return data as DataModule;
}
