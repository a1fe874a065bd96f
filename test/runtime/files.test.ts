/**
 * Files a user names are read only when they are regular files, within a size bound, opened
 * without blocking: a FIFO, a device, a directory or an oversized file is a one-line error naming
 * the path, never a hang or a run out of memory; a shard index cannot point out of its directory.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRegular } from '../../src/runtime/files.ts';
import { readVqa } from '../../src/data/vqa.ts';
import { readImage } from '../../src/data/image.ts';
import { TextTokenizer } from '../../src/data/tokenizer.ts';
import { hf } from '../../src/hf/towers.ts';
import { parseSpec } from '../../src/dsl/spec.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { planImport } from '../../src/hf/import.ts';
import { fixtureDir } from '../helpers/hf-fixture.ts';

const fifo = (path: string) => {
  const r = spawnSync('mkfifo', [path]);
  expect(r.status, String(r.stderr)).toBe(0);
  return path;
};

describe('special and oversized files', () => {
  it('refuses a FIFO, a device, a directory and a file over its bound, at once', () => {
    const d = mkdtempSync(join(tmpdir(), 'pg-files-'));
    const t0 = performance.now();
    expect(() => readRegular(fifo(join(d, 'pipe')), 'config', 1024)).toThrow(
      /pipe: the config is a FIFO, not a regular file/,
    );
    expect(() => readRegular('/dev/zero', 'image', 1024)).toThrow(
      /\/dev\/zero: the image is a device, not a regular file/,
    );
    expect(() => readRegular(d, 'tokenizer file', 1024)).toThrow(/the tokenizer file is a directory/);
    writeFileSync(join(d, 'big.json'), 'x'.repeat(2048));
    expect(() => readRegular(join(d, 'big.json'), 'config', 1024)).toThrow(
      /big\.json: the config is 2048 bytes, over the 1024-byte limit/,
    );
    // procfs claims size 0: read to the bound at most.
    expect(() => readRegular('/proc/self/maps', 'config', 16)).toThrow(/holds more than 16 bytes/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('everywhere a file is read: JSONL records, images, tokenizers, configs', async () => {
    const d = mkdtempSync(join(tmpdir(), 'pg-files-'));
    expect(() => readVqa(fifo(join(d, 'train.jsonl')))).toThrow(/train\.jsonl: the JSONL file is a FIFO/);
    await expect(readImage(fifo(join(d, 'x.png')))).rejects.toThrow(/x\.png: the image is a FIFO/);
    const tok = join(d, 'tok');
    mkdirSync(tok);
    fifo(join(tok, 'tokenizer.json'));
    expect(() => TextTokenizer.fromDir(tok)).toThrow(/tokenizer\.json: the tokenizer file is a FIFO/);
    const cfg = join(d, 'model');
    mkdirSync(cfg);
    fifo(join(cfg, 'config.json'));
    expect(() => hf.text(cfg)).toThrow(
      /config\.json: the config is a FIFO, not a regular file; a pretrained directory holds config\.json/,
    );
  });

  it("a shard index names files beside it, never a path out of the checkpoint's directory", () => {
    const d = mkdtempSync(join(tmpdir(), 'pg-shards-'));
    for (const f of readdirSync(fixtureDir('bert'))) copyFileSync(join(fixtureDir('bert'), f), join(d, f));
    const index = JSON.parse(readFileSync(join(d, 'model.safetensors.index.json'), 'utf8'));
    const first = Object.keys(index.weight_map)[0];
    index.weight_map[first] = '../outside.safetensors';
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify(index));
    const spec = parseSpec({ text: hf.text(d, { maxLen: 7 }), head: { kind: 'features' } });
    expect(() => planImport(spec, lowerModel(spec, { batch: 1, mode: 'infer' }).graph)).toThrow(
      /weight_map\['.*'\] is "\.\.\/outside\.safetensors", not a file name in/,
    );
    index.weight_map[first] = 7;
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify(index));
    expect(() => planImport(spec, lowerModel(spec, { batch: 1, mode: 'infer' }).graph)).toThrow(
      /weight_map\['.*'\] is 7, not a file name/,
    );
  });
});
