/**
 * The safetensors format read from bytes in memory: header validation and decoding, with no node
 * built-ins, so the browser runtime reads the same files as node (safetensors.ts adds files).
 */
import { UserError } from '../user-error.ts';

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

/** The largest header peftgraph reads (the reference's limit is 100 MB too). */
export const MAX_HEADER = 100 * 1024 * 1024;

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

export interface Header {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  dataStart: number;
}

/** Validates a header (JSON, dtypes, shapes, offsets inside `dataLen` bytes and of the dtype's size). */
export function parseHeader(path: string, prefix: Uint8Array, fileLen: number): Header {
  if (fileLen < 8) throw new CheckpointError(path, `truncated: ${fileLen} bytes, not even a header length`);
  const len = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
  if (len > MAX_HEADER || 8 + len > fileLen)
    throw new CheckpointError(
      path,
      `header length ${len} runs past the file's ${fileLen} bytes (truncated or not a safetensors file)`,
    );
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(prefix.subarray(8, 8 + len)));
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

/** A peftgraph checkpoint's bytes (F32 tensors only, every value finite) as tensors; `path` names it in errors. */
export function decodeSafetensors(path: string, bytes: Uint8Array): SafeTensors {
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
export function assertFinite(path: string, name: string, x: Float32Array): void {
  for (let i = 0; i < x.length; i++)
    if (!Number.isFinite(x[i])) throw new CheckpointError(path, `tensor '${name}' holds ${x[i]} at index ${i}`);
}
