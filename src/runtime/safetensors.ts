/**
 * safetensors files (readable by other tools): 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, __metadata__: {string: string}}, then the data.
 * Writes are atomic (temp file, fsync, rename): a crash mid-save leaves the previous file.
 * Reads validate the header: its length, the JSON, dtypes, shapes and offsets against the file.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { HalfWeights } from './half.ts';
import {
  CheckpointError,
  decodeSafetensors,
  assertFinite,
  FLOAT_DTYPES,
  MAX_HEADER,
  parseHeader,
  toFloat32,
  type Header,
  type SafeTensors,
  type TensorEntry,
  type TensorInfo,
} from './safetensors-format.ts';

export {
  CheckpointError,
  decodeSafetensors,
  FLOAT_DTYPES,
  toFloat32,
  type SafeTensors,
  type TensorEntry,
  type TensorInfo,
} from './safetensors-format.ts';

export function encodeSafetensors(tensors: Map<string, TensorEntry>, metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    const n = t.shape.reduce((p, q) => p * q, 1);
    if (n !== t.data.length)
      throw new Error(`safetensors: '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // align the data start
  const head = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let pos = 8 + head.length;
  for (const name of names) {
    const d = tensors.get(name)!.data;
    Buffer.from(d.buffer, d.byteOffset, d.byteLength).copy(out, pos);
    pos += d.byteLength;
  }
  return out;
}

const WRITE_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOENT: 'the directory does not exist',
  EISDIR: 'it is a directory',
};

/** What a failed write means in words (disk full, read-only, ...), or null for other failures. */
export function writeFailure(e: unknown): string | null {
  const code = (e as NodeJS.ErrnoException).code;
  return code && WRITE_ERRORS[code] ? `${WRITE_ERRORS[code]} (${code})` : null;
}

/** A failed write in one line naming the file, when the system said why. */
export function writeError(path: string, e: unknown): Error {
  const why = writeFailure(e);
  return why ? new CheckpointError(path, `cannot write: ${why}`) : (e as Error);
}

/**
 * Atomic write: a reader (or a crash) sees the old file or the complete new one. The temp file
 * is removed on every failure path, and the directory is synced after the rename so the new
 * name survives a power loss too.
 */
export function writeAtomic(path: string, bytes: Buffer, hooks: { beforeRename?: () => void } = {}): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    hooks.beforeRename?.();
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or already gone */
    }
    throw writeError(path, e);
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * Removes temp files that runs killed mid-write left in `dir` (`<name>.<pid>.tmp` of a process
 * that no longer exists); returns their names.
 */
export function removeStaleTemps(dir: string): string[] {
  const gone: string[] = [];
  for (const f of readdirSync(dir)) {
    const m = /\.(\d+)\.tmp$/.exec(f);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // alive: its write may be in progress
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPERM') continue;
    }
    unlinkSync(join(dir, f));
    gone.push(f);
  }
  return gone;
}

/**
 * A safetensors file opened for reading tensor by tensor: only the header is read up front,
 * and `read` reads one tensor's bytes, so loading a model never holds the file and the
 * weights at once.
 */
export class SafetensorsFile {
  private fd: number | null;
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  private readonly dataStart: number;

  private constructor(
    readonly path: string,
    fd: number,
    h: Header,
  ) {
    this.fd = fd;
    this.tensors = h.tensors;
    this.metadata = h.metadata;
    this.dataStart = h.dataStart;
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      // Checked before opening: opening a FIFO for reading blocks until a writer comes.
      if (!statSync(path).isFile()) throw new Error('not a regular file');
      fd = openSync(path, 'r');
    } catch (e) {
      throw new CheckpointError(path, `cannot read: ${(e as Error).message}`);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new CheckpointError(path, 'not a regular file');
      const size = st.size;
      // The header is read only when its length is plausible; parseHeader explains the rest.
      const head = Buffer.alloc(Math.min(size, 8));
      readFully(fd, head, 0);
      const len = size >= 8 ? Number(head.readBigUInt64LE(0)) : 0;
      const prefix = len <= MAX_HEADER && 8 + len <= size ? Buffer.alloc(8 + len) : head;
      readFully(fd, prefix, 0);
      return new SafetensorsFile(path, fd, parseHeader(path, prefix, size));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** One float tensor as f32 (F16 and BF16 widened exactly). */
  read(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(this.path, `has no tensor '${name}'`);
    if (!FLOAT_DTYPES.includes(t.dtype))
      throw new CheckpointError(
        this.path,
        `tensor '${name}' is ${t.dtype}; peftgraph reads ${FLOAT_DTYPES.join(', ')} weights`,
      );
    if (this.fd === null) throw new CheckpointError(this.path, 'read after close');
    const out = new Float32Array(t.shape.reduce((p, q) => p * q, 1));
    if (t.dtype === 'F32') readFully(this.fd, new Uint8Array(out.buffer), this.dataStart + t.begin);
    else {
      const raw = Buffer.alloc(t.end - t.begin);
      readFully(this.fd, raw, this.dataStart + t.begin);
      toFloat32(t.dtype, raw, out);
    }
    assertFinite(this.path, name, out);
    return out;
  }

  /**
   * An F16 or BF16 tensor as its bits, not widened (frozen weights kept in 16 bits on the device
   * upload them as they are); non-finite values are refused by name, as read() does.
   */
  readBits(name: string): HalfWeights {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(this.path, `has no tensor '${name}'`);
    if (t.dtype !== 'F16' && t.dtype !== 'BF16')
      throw new CheckpointError(this.path, `tensor '${name}' is ${t.dtype}, not F16 or BF16`);
    if (this.fd === null) throw new CheckpointError(this.path, 'read after close');
    const bits = new Uint16Array((t.end - t.begin) / 2);
    readFully(this.fd, new Uint8Array(bits.buffer), this.dataStart + t.begin);
    // All exponent bits set: infinity or NaN.
    const exp = t.dtype === 'BF16' ? 0x7f80 : 0x7c00;
    for (let i = 0; i < bits.length; i++)
      if ((bits[i] & exp) === exp)
        throw new CheckpointError(this.path, `tensor '${name}' holds a non-finite value at index ${i}`);
    return { dtype: t.dtype === 'BF16' ? 'bf16' : 'f16', bits };
  }

  /** Bytes [start, start + into.length) of tensor `name`'s data, into `into`. */
  readBytes(name: string, start: number, into: Uint8Array): void {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(this.path, `has no tensor '${name}'`);
    if (this.fd === null) throw new CheckpointError(this.path, 'read after close');
    if (start < 0 || start + into.length > t.end - t.begin)
      throw new Error(`readBytes: [${start}, ${start + into.length}) is outside '${name}' (${t.end - t.begin} bytes)`);
    readFully(this.fd, into, this.dataStart + t.begin + start);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Whether tensor `an` of `a` and `bn` of `b` hold the same values: byte for byte in blocks when
 * they share a dtype (no tensor held whole), else after widening both to f32.
 */
export function sameTensor(a: SafetensorsFile, an: string, b: SafetensorsFile, bn: string): boolean {
  const [ta, tb] = [a.tensors.get(an), b.tensors.get(bn)];
  if (!ta || !tb || ta.shape.join() !== tb.shape.join()) return false;
  if (ta.dtype !== tb.dtype) {
    const [x, y] = [a.read(an), b.read(bn)];
    return x.every((v, i) => v === y[i]);
  }
  const total = ta.end - ta.begin;
  const block = 16 * 2 ** 20;
  const [x, y] = [new Uint8Array(Math.min(block, total)), new Uint8Array(Math.min(block, total))];
  for (let off = 0; off < total; off += block) {
    const n = Math.min(block, total - off);
    a.readBytes(an, off, x.subarray(0, n));
    b.readBytes(bn, off, y.subarray(0, n));
    if (!Buffer.from(x.buffer, 0, n).equals(Buffer.from(y.buffer, 0, n))) return false;
  }
  return true;
}

function readFully(fd: number, into: Uint8Array, position: number): void {
  let off = 0;
  while (off < into.length) {
    const n = readSync(fd, into, off, into.length - off, position + off);
    if (n === 0) throw new Error(`unexpected end of file at byte ${position + off}`);
    off += n;
  }
}

export function readSafetensors(path: string): SafeTensors {
  let bytes: Buffer;
  try {
    if (!statSync(path).isFile()) throw new Error('not a regular file');
    bytes = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read: ${(e as Error).message}`);
  }
  return decodeSafetensors(path, bytes);
}

/** Writes F32 tensors (sorted by name) and string metadata to `path`, atomically. */
export function writeSafetensors(
  path: string,
  tensors: Map<string, TensorEntry> | Record<string, TensorEntry>,
  metadata: Record<string, string> = {},
): void {
  writeAtomic(path, encodeSafetensors(tensors instanceof Map ? tensors : new Map(Object.entries(tensors)), metadata));
}
