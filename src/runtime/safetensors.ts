/**
 * safetensors files (readable by other tools): 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, __metadata__: {string: string}}, then the data.
 * Writes are atomic (temp file, fsync, rename): a crash mid-save leaves the previous file.
 * Reads validate the header: its length, the JSON, dtypes, shapes and offsets against the file.
 */
import { UserError } from '../user-error.ts';
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

export class CheckpointError extends UserError {
  constructor(path: string, msg: string) {
    super(`checkpoint ${path}: ${msg}`);
    this.name = 'CheckpointError';
  }
}

export interface TensorEntry {
  shape: number[];
  data: Float32Array;
}

export interface SafeTensors {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

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

/** Bytes per element of each safetensors dtype (the format's full list). */
const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** A tensor's header entry; `begin`/`end` are byte offsets into the data section. */
export interface TensorInfo {
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

interface Header {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  dataStart: number;
}

/** Validates a header (JSON, dtypes, shapes, offsets inside `dataLen` bytes and of the dtype's size). */
function parseHeader(path: string, prefix: Buffer, fileLen: number): Header {
  if (fileLen < 8) throw new CheckpointError(path, `truncated: ${fileLen} bytes, not even a header length`);
  const len = Number(prefix.readBigUInt64LE(0));
  if (len > MAX_HEADER || 8 + len > fileLen)
    throw new CheckpointError(
      path,
      `header length ${len} runs past the file's ${fileLen} bytes (truncated or not a safetensors file)`,
    );
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(prefix.subarray(8, 8 + len).toString('utf8'));
  } catch (e) {
    throw new CheckpointError(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new CheckpointError(path, 'header is not a JSON object');
  const dataStart = 8 + len;
  const dataLen = fileLen - dataStart;
  const tensors = new Map<string, TensorInfo>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new CheckpointError(path, `tensor '${name}': its header entry is not an object`);
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const size = DTYPE_BYTES[String(e.dtype)];
    if (!size)
      throw new CheckpointError(
        path,
        `tensor '${name}' has unknown dtype ${String(e?.dtype)} (valid: ${Object.keys(DTYPE_BYTES).join(', ')})`,
      );
    const shape = e.shape;
    const offs = e.data_offsets;
    if (
      !Array.isArray(shape) ||
      !shape.every((d) => Number.isInteger(d) && d >= 0) ||
      !Array.isArray(offs) ||
      offs.length !== 2
    ) {
      throw new CheckpointError(path, `tensor '${name}' has a malformed shape or data_offsets`);
    }
    const n = (shape as number[]).reduce((p, q) => p * q, 1);
    const [a, b] = offs as number[];
    if (!(Number.isInteger(a) && Number.isInteger(b) && 0 <= a && a <= b && b <= dataLen) || b - a !== n * size) {
      throw new CheckpointError(
        path,
        `tensor '${name}' [${shape}] ${e.dtype} has offsets [${a}, ${b}] outside the ${dataLen} data bytes or not ${n * size} bytes long (truncated?)`,
      );
    }
    tensors.set(name, { dtype: e.dtype as string, shape: shape as number[], begin: a, end: b });
  }
  // As the safetensors reference reads: the tensors tile the data section exactly, no overlap, no gap, nothing after.
  let at = 0;
  for (const [name, t] of [...tensors].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end)) {
    if (t.begin !== at)
      throw new CheckpointError(
        path,
        `tensor '${name}' starts at data byte ${t.begin}, expected ${at} (${t.begin < at ? 'it overlaps the previous tensor' : 'a gap precedes it'})`,
      );
    at = t.end;
  }
  if (at !== dataLen)
    throw new CheckpointError(
      path,
      `${dataLen - at} bytes after the last tensor (the data section must hold exactly the tensors)`,
    );
  const meta = header.__metadata__;
  if (
    meta !== undefined &&
    (typeof meta !== 'object' || meta === null || Object.values(meta).some((v) => typeof v !== 'string'))
  ) {
    throw new CheckpointError(path, '__metadata__ must map strings to strings');
  }
  return { tensors, metadata: (meta as Record<string, string>) ?? {}, dataStart };
}

/** IEEE half (bits) to float. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Converts raw little-endian F32/F16/BF16 bytes into `out` (f32). */
export function toFloat32(dtype: string, bytes: Uint8Array, out: Float32Array): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
  else if (dtype === 'F16') for (let i = 0; i < out.length; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
  else if (dtype === 'BF16') {
    const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < out.length; i++) u[i] = dv.getUint16(2 * i, true) << 16;
  } else throw new Error(`toFloat32: ${dtype} is not a float dtype peftgraph reads (F32, F16, BF16)`);
}

export const FLOAT_DTYPES = ['F32', 'F16', 'BF16'];

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

export function decodeSafetensors(path: string, bytes: Buffer): SafeTensors {
  const h = parseHeader(path, bytes, bytes.length);
  const tensors = new Map<string, TensorEntry>();
  for (const [name, t] of h.tensors) {
    if (t.dtype !== 'F32')
      throw new CheckpointError(path, `tensor '${name}' has dtype ${t.dtype}; peftgraph checkpoints hold F32`);
    const copy = new Uint8Array(t.end - t.begin);
    copy.set(bytes.subarray(h.dataStart + t.begin, h.dataStart + t.end));
    const data = new Float32Array(copy.buffer);
    assertFinite(path, name, data);
    tensors.set(name, { shape: t.shape, data });
  }
  return { tensors, metadata: h.metadata };
}

/** NaN or infinite weights are refused by name: they would train or evaluate to NaN silently. */
function assertFinite(path: string, name: string, x: Float32Array): void {
  for (let i = 0; i < x.length; i++)
    if (!Number.isFinite(x[i])) throw new CheckpointError(path, `tensor '${name}' holds ${x[i]} at index ${i}`);
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
