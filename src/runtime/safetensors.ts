/**
 * safetensors files (readable by other tools): 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, __metadata__: {string: string}}, then the data.
 * Writes are atomic (temp file, fsync, rename): a crash mid-save leaves the previous file.
 * Reads validate the header: its length, the JSON, dtypes, shapes and offsets against the file.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';

export class CheckpointError extends Error {
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
    if (n !== t.data.length) throw new Error(`safetensors: '${name}' has ${t.data.length} values for shape [${t.shape}]`);
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

/** Atomic write: a reader (or a crash) sees the old file or the complete new one. */
export function writeAtomic(path: string, bytes: Buffer, hooks: { beforeRename?: () => void } = {}): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    hooks.beforeRename?.();
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
}

export function decodeSafetensors(path: string, bytes: Buffer): SafeTensors {
  if (bytes.length < 8) throw new CheckpointError(path, `truncated: ${bytes.length} bytes, not even a header length`);
  const len = Number(bytes.readBigUInt64LE(0));
  if (len > MAX_HEADER || 8 + len > bytes.length) throw new CheckpointError(path, `header length ${len} runs past the file's ${bytes.length} bytes (truncated or not a safetensors file)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + len).toString('utf8'));
  } catch (e) {
    throw new CheckpointError(path, `header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + len;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, TensorEntry>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e.dtype !== 'F32') throw new CheckpointError(path, `tensor '${name}' has dtype ${String(e.dtype)}; peftgraph checkpoints hold F32`);
    const shape = e.shape;
    const offs = e.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0) || !Array.isArray(offs) || offs.length !== 2) {
      throw new CheckpointError(path, `tensor '${name}' has a malformed shape or data_offsets`);
    }
    const n = (shape as number[]).reduce((p, q) => p * q, 1);
    const [a, b] = offs as number[];
    if (!(Number.isInteger(a) && Number.isInteger(b) && 0 <= a && a <= b && b <= dataLen) || b - a !== n * 4) {
      throw new CheckpointError(path, `tensor '${name}' [${shape}] has offsets [${a}, ${b}] outside the ${dataLen} data bytes or not ${n * 4} bytes long (truncated?)`);
    }
    const copy = new Uint8Array(b - a);
    copy.set(bytes.subarray(dataStart + a, dataStart + b));
    tensors.set(name, { shape: shape as number[], data: new Float32Array(copy.buffer) });
  }
  const meta = header.__metadata__;
  if (meta !== undefined && (typeof meta !== 'object' || meta === null || Object.values(meta).some((v) => typeof v !== 'string'))) {
    throw new CheckpointError(path, '__metadata__ must map strings to strings');
  }
  return { tensors, metadata: (meta as Record<string, string>) ?? {} };
}

export function readSafetensors(path: string): SafeTensors {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read: ${(e as Error).message}`);
  }
  return decodeSafetensors(path, bytes);
}
