/**
 * The safetensors reader is as strict as the format's reference: tensors tile the data exactly
 * (no overlap, gap or trailing bytes), header entries are objects, only regular files are read,
 * and NaN/Inf weights are refused by name.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  removeStaleTemps,
  SafetensorsFile,
  writeAtomic,
  writeError,
} from '../../src/runtime/safetensors.ts';

/** A file from a header object and raw data bytes. */
function file(header: unknown, data: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}
const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

describe('safetensors strictness', () => {
  const t = (a: number, b: number) => ({ dtype: 'F32', shape: [(b - a) / 4], data_offsets: [a, b] });

  it('accepts what the writer writes', () => {
    const enc = encodeSafetensors(
      new Map([
        ['a', { shape: [2], data: Float32Array.from([1, 2]) }],
        ['b', { shape: [1], data: Float32Array.from([3]) }],
      ]),
      { k: 'v' },
    );
    expect([...decodeSafetensors('x', enc).tensors.get('b')!.data]).toEqual([3]);
  });

  it('refuses overlapping tensors, gaps and trailing bytes', () => {
    expect(() => decodeSafetensors('f', file({ a: t(0, 8), b: t(4, 8) }, f32(1, 2)))).toThrow(
      /tensor '.' starts at data byte 4, expected 8 \(it overlaps the previous tensor\)/,
    );
    expect(() => decodeSafetensors('f', file({ a: t(0, 4), b: t(8, 12) }, f32(1, 2, 3)))).toThrow(
      /tensor 'b' starts at data byte 8, expected 4 \(a gap precedes it\)/,
    );
    expect(() => decodeSafetensors('f', file({ a: t(0, 4) }, f32(1, 2)))).toThrow(/4 bytes after the last tensor/);
  });

  it('refuses a null header or entry with a message, not a crash', () => {
    expect(() => decodeSafetensors('f', file(null, f32()))).toThrow(/header is not a JSON object/);
    expect(() => decodeSafetensors('f', file({ a: null }, f32()))).toThrow(
      /tensor 'a': its header entry is not an object/,
    );
  });

  it('reads regular files only (a FIFO or /dev/zero would block or read forever)', () => {
    const d = mkdtempSync(join(tmpdir(), 'st-'));
    execFileSync('mkfifo', [join(d, 'pipe')]);
    expect(() => readSafetensors(join(d, 'pipe'))).toThrow(/pipe: cannot read: not a regular file/);
    expect(() => SafetensorsFile.open(join(d, 'pipe'))).toThrow(/not a regular file/);
    expect(() => readSafetensors('/dev/zero')).toThrow(/not a regular file/);
  });

  it('refuses NaN and infinite weights, naming the tensor', () => {
    const d = mkdtempSync(join(tmpdir(), 'st-'));
    writeFileSync(
      join(d, 'w.safetensors'),
      encodeSafetensors(new Map([['w', { shape: [3], data: Float32Array.from([1, NaN, 2]) }]]), {}),
    );
    expect(() => readSafetensors(join(d, 'w.safetensors'))).toThrow(/tensor 'w' holds NaN at index 1/);
    const f = SafetensorsFile.open(join(d, 'w.safetensors'));
    expect(() => f.read('w')).toThrow(/tensor 'w' holds NaN at index 1/);
    f.close();
  });
});

describe('file hygiene', () => {
  it('a failed write removes its temp file and says why in one line', () => {
    const d = mkdtempSync(join(tmpdir(), 'st-'));
    expect(() => writeAtomic('/dev/full-peftgraph-test/x.safetensors', Buffer.alloc(8))).toThrow(
      /cannot write: the directory does not exist \(ENOENT\)/,
    );
    const ro = join(d, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    if (process.getuid?.() !== 0)
      expect(() => writeAtomic(join(ro, 'x.safetensors'), Buffer.alloc(8))).toThrow(/cannot write: permission denied/);
    expect(readdirSync(d).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(
      writeError(
        'runs/x/last.safetensors',
        Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
      ).message,
    ).toBe('checkpoint runs/x/last.safetensors: cannot write: no space left on the device (ENOSPC)');
  });

  it('removes the temp files of killed runs, not of live ones', () => {
    const d = mkdtempSync(join(tmpdir(), 'st-'));
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    writeFileSync(join(d, `last.safetensors.${dead}.tmp`), 'x');
    writeFileSync(join(d, `last.safetensors.${process.pid}.tmp`), 'x');
    writeFileSync(join(d, `best.safetensors.1.tmp`), 'x'); // pid 1 (init) is alive
    expect(removeStaleTemps(d)).toEqual([`last.safetensors.${dead}.tmp`]);
    expect(readdirSync(d).sort()).toEqual(['best.safetensors.1.tmp', `last.safetensors.${process.pid}.tmp`]);
  });
});
