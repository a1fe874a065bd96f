/** Running the CLI as a user does (the bin wrapper, in a child process), and the repository's paths. */
import { spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

/** `peftgraph ...args` from the repository root; exit code and output. */
export const cli = (...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'bin', 'peftgraph.mjs'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });

/** A test fixture's path (test/fixtures/...), quoted for a spec module's source. */
export const fixtureLiteral = (path: string) => JSON.stringify(join(ROOT, 'test', 'fixtures', path));

/** The src/index.ts a spec module written by a test imports, quoted. */
export const indexLiteral = JSON.stringify(join(ROOT, 'src', 'index.ts'));

/** The ViT fixture's preprocessor_config.json, into `dir` (a spec's processor directory). */
export function copyVitProcessor(dir: string): void {
  copyFileSync(
    join(ROOT, 'test', 'fixtures', 'images', 'preprocessor_vit.json'),
    join(dir, 'preprocessor_config.json'),
  );
}
