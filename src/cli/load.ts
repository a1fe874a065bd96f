/** Loading user files: a spec (.ts module with a default export, or .json) and a data module. */
import { adapterFile, specOfCheckpoint } from '../train/adapter.ts';
import { specDifferences } from '../train/identity.ts';
import { withAbsolutePaths, withSpecDir } from '../dsl/spec-dir.ts';
import { readJsonFile } from '../runtime/files.ts';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseSpec, SpecError, type ModelSpec } from '../dsl/spec.ts';
import { DataError } from '../data/errors.ts';
import { UserError } from '../user-error.ts';
import type { Dataset } from '../runtime/batches.ts';

/**
 * Imports a user's module. A TypeScript file loads through tsx's tsImport, as an ES module
 * wherever it lies (a .ts file outside an ESM package was once refused as a CommonJS cycle), and
 * relative paths in it (hf.vision('models/vit')) resolve against its own directory. A missing
 * file, or a module that fails to load (syntax error, a throw at top level), is the user's error;
 * errors our own code raised while it ran keep their type.
 */
/** A module tsx compiled as CommonJS (outside an ESM package) nests its default export once more. */
function unwrapDefault(x: unknown): unknown {
  const o = x as { default?: unknown; spec?: unknown; head?: unknown } | undefined;
  return o && typeof o === 'object' && 'default' in o && !('spec' in o) && !('head' in o) ? o.default : x;
}

const USER_ERRORS = new Set([
  'SpecError',
  'DataError',
  'PretrainedError',
  'CheckpointError',
  'FileError',
  'PhmShapeError',
]);

async function importUser(
  path: string,
  what: string,
  Err: new (m: string) => UserError,
): Promise<Record<string, unknown>> {
  if (!existsSync(path) || !statSync(path).isFile()) throw new Err(`${path}: no such ${what} file`);
  const url = pathToFileURL(resolve(path)).href;
  try {
    return await withSpecDir(dirname(resolve(path)), async () => {
      if (!/\.[cm]?tsx?$/.test(path)) return await import(url);
      const { tsImport } = await import('tsx/esm/api');
      return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
    });
  } catch (e) {
    if (e instanceof UserError) throw e;
    // An error class of the spec's own copy of peftgraph (tsx loads its imports apart): still the user's input.
    if (e instanceof Error && USER_ERRORS.has(e.name)) throw new Err(`${path}: ${e.message}`);
    const msg = (e as Error).message;
    // Node resolves a spec's imports from the spec's own directory up, not from the CLI's.
    if (/Cannot find (module|package) 'peftgraph'/.test(msg)) {
      const where = dirname(resolve(path));
      throw new Err(
        `${path}: the ${what} module failed to load: it imports 'peftgraph', which node looks for from ${where} upwards and does not find there (install peftgraph in that project, or place the ${what} inside the project that has it)`,
      );
    }
    throw new Err(`${path}: the ${what} module failed to load: ${msg}`);
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
    return withAbsolutePaths(
      inFile(path, () => parseSpec(json)),
      dirname(resolve(path)),
    );
  }
  const mod = await importUser(path, 'spec', SpecError);
  const exp = unwrapDefault(mod.default ?? mod.spec);
  // Only named exports (tsx hands a CommonJS module's namespace over as its default): name them.
  const specLike = (v: unknown) => typeof v === 'object' && v !== null && ('head' in v || 'spec' in v);
  const named = Object.entries(typeof exp === 'object' && exp !== null && !specLike(exp) ? exp : mod).filter(
    ([k, v]) => k !== 'default' && specLike(v),
  );
  if (!specLike(exp) && named.length)
    throw new SpecError(
      `${path}: no default export; it exports ${named.map(([k]) => k).join(', ')}: add \`export default ${named[0][0]};\``,
    );
  if (typeof exp !== 'object' || exp === null)
    throw new SpecError(
      `${path}: expected a default export (a vl.model(...) builder or a ModelSpec), got ${exp === undefined ? 'none' : JSON.stringify(exp)}`,
    );
  // The builder validates when asked for its spec: its errors are about this file.
  return inFile(path, () => parseSpec('spec' in exp ? (exp as { spec: unknown }).spec : exp));
}

/** Runs `fn`, naming `path` in a spec error it raises (also one of the spec's own copy of peftgraph). */
function inFile<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && USER_ERRORS.has(e.name)) throw new SpecError(`${path}: ${e.message}`);
    throw e;
  }
}

export interface DataModule {
  train: Dataset;
  dev?: Dataset;
  test?: Dataset;
}

/** A data module exports `default` (or `load`): (opts: { seed }) => { train, dev?, test? }. */
export async function loadData(path: string, seed: number): Promise<DataModule> {
  const mod = await importUser(path, 'data', DataError);
  const fn = unwrapDefault(mod.default ?? mod.load);
  if (typeof fn !== 'function')
    throw new DataError(`${path}: expected a default export function ({ seed }) => ({ train, dev, test })`);
  const data = await fn({ seed });
  if (typeof data !== 'object' || data === null || !('train' in data))
    throw new DataError(`${path}: the data function must return { train, dev?, test? }`);
  return data as DataModule;
}

/**
 * The spec and checkpoint a command runs: `--checkpoint <file>`, or `--adapter <dir or file>` (a
 * run or adapter directory's adapter.safetensors, answers.json beside it). Without a spec file the
 * spec is the one the checkpoint records: an adapter carries the spec it was trained with.
 */
export async function specAndCheckpoint(
  specPath: string | undefined,
  o: { checkpoint?: string; adapter?: string; allowMismatch?: boolean },
): Promise<{ spec: ModelSpec; checkpoint: string }> {
  if (o.checkpoint && o.adapter) throw new DataError('--checkpoint and --adapter both name the weights: give one');
  const checkpoint = o.adapter ? adapterFile(o.adapter) : o.checkpoint;
  if (!checkpoint)
    throw new DataError('name the trained weights: --adapter <run directory or adapter file>, or --checkpoint <file>');
  if (!specPath) return { spec: specOfCheckpoint(checkpoint), checkpoint };
  const spec = await loadSpec(specPath);
  // Another spec than the one the weights record: say where, and that the argument can go.
  let recorded: ModelSpec | undefined;
  try {
    recorded = specOfCheckpoint(checkpoint);
  } catch {
    recorded = undefined; // no readable spec in it: the identity check that follows says why
  }
  const differ = recorded && !o.allowMismatch ? specDifferences(recorded, spec) : [];
  if (differ.length)
    throw new DataError(
      `${checkpoint} was trained with another spec than ${specPath} (${differ.join('; ')}): leave the spec argument out to use the one it records, or pass --allow-mismatch`,
    );
  return { spec, checkpoint };
}
