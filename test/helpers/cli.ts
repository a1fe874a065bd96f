/** Running the CLI as a user does (the bin wrapper, in a child process), and the repository's paths. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
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

/** The caption tests' files: four fixture images in dir/imgs, and caption splits of them: train (all four), dev (0, 1), test (2, 3). */
export function writeCaptionFiles(dir: string, captions: string[][]): void {
  const images = ['rgb.png', 'palette.png', 'photo.jpg', 'gray.png'];
  mkdirSync(join(dir, 'imgs'));
  for (const f of images) copyFileSync(join(ROOT, 'test', 'fixtures', 'images', f), join(dir, 'imgs', f));
  const line = (i: number) => JSON.stringify({ image: `imgs/${images[i]}`, captions: captions[i] });
  writeFileSync(join(dir, 'train.jsonl'), `${[0, 1, 2, 3].map(line).join('\n')}\n`);
  writeFileSync(join(dir, 'dev.jsonl'), `${[0, 1].map(line).join('\n')}\n`);
  writeFileSync(join(dir, 'test.jsonl'), `${[2, 3].map(line).join('\n')}\n`);
}
