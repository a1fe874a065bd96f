/**
 * Relative paths in a spec file (hf.vision('models/vit'), .inputs({ tokenizer })) resolve against
 * the spec file's directory while the CLI loads it, and against the working directory otherwise.
 * The directory lives on globalThis under a registered symbol: a .ts spec is loaded through tsx
 * (cli/load.ts) and may see its own copy of this module.
 */
import { isAbsolute, resolve } from 'node:path';

const KEY = Symbol.for('peftgraph.specDir');
type Holder = { [KEY]?: string };

/** Runs `load` with relative spec paths resolving against `dir`. */
export async function withSpecDir<T>(dir: string, load: () => Promise<T>): Promise<T> {
  const g = globalThis as Holder;
  const before = g[KEY];
  g[KEY] = dir;
  try {
    return await load();
  } finally {
    g[KEY] = before;
  }
}

/** `path` made absolute: against the spec file's directory while one loads, else the working directory. */
export function specPath(path: string): string {
  const dir = (globalThis as Holder)[KEY];
  return isAbsolute(path) || !dir ? resolve(path) : resolve(dir, path);
}

/**
 * A parsed spec's paths (pretrained towers, tokenizer, processor, init files) made absolute against
 * `dir`: a .json spec's relative paths mean its own directory, as a .ts spec's do.
 */
export function withAbsolutePaths<
  S extends { vision?: Tower; text?: Tower; inputs: { tokenizer?: string; processor?: string }; init?: string[] },
>(spec: S, dir: string): S {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const tower = <T extends Tower | undefined>(t: T): T =>
    t?.pretrained ? { ...t, pretrained: { ...t.pretrained, dir: abs(t.pretrained.dir) } } : t;
  const inputs = Object.fromEntries(
    Object.entries(spec.inputs).map(([k, v]) => [k, typeof v === 'string' ? abs(v) : v]),
  );
  return {
    ...spec,
    ...(spec.vision ? { vision: tower(spec.vision) } : {}),
    ...(spec.text ? { text: tower(spec.text) } : {}),
    inputs,
    ...(spec.init ? { init: spec.init.map(abs) } : {}),
  };
}

type Tower = { pretrained?: { dir: string } };
