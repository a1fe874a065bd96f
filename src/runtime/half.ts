/**
 * 16-bit float bit patterns on the host: frozen weights kept in bf16 or f16 on the device
 * (PlanOptions.frozenWeights) are narrowed here at upload, rounding to nearest even as
 * torch's `.to(torch.bfloat16)` / `.half()` do, and widened exactly on readback. A weight that
 * already is 16-bit (a BF16 or F16 checkpoint) uploads its bits as they are (HalfWeights).
 */

export type HalfDtype = 'bf16' | 'f16';

/** A tensor's 16-bit bit patterns, as a BF16/F16 checkpoint stores them: uploaded without widening. */
export interface HalfWeights {
  readonly dtype: HalfDtype;
  readonly bits: Uint16Array;
}

/** A weight on the host: f32 values (or any numbers), or a 16-bit tensor kept as its bits. */
export type Weight = ArrayLike<number> | HalfWeights;
export type WeightMap = Record<string, Weight>;

/** Elements of a weight. */
export const weightLength = (w: Weight): number => (isHalf(w) ? w.bits.length : w.length);

/** A weight's values as numbers (a 16-bit one widened exactly; others as they are). */
export const valuesOf = (w: Weight): ArrayLike<number> => (isHalf(w) ? widen(w) : w);

export const isHalf = (x: unknown): x is HalfWeights =>
  typeof x === 'object' && x !== null && 'bits' in x && (x as HalfWeights).bits instanceof Uint16Array;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bf16 bits of x, rounded to nearest even (NaN stays a quiet NaN). */
export function toBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** IEEE half bits of x, rounded to nearest even (overflow to infinity, subnormals kept). */
export function toF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal: the implicit bit shifted in, then rounded to nearest even.
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) r++;
  return sign | r;
}

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** `data` as `dtype` bits: a 16-bit tensor of that dtype as it is, anything else narrowed. */
export function toHalfBits(data: ArrayLike<number> | HalfWeights, dtype: HalfDtype): Uint16Array {
  if (isHalf(data)) {
    if (data.dtype === dtype) return data.bits;
    return toHalfBits(widen(data), dtype);
  }
  const out = new Uint16Array(data.length);
  const narrow = dtype === 'bf16' ? toBf16Bits : toF16Bits;
  for (let i = 0; i < data.length; i++) out[i] = narrow(data[i]);
  return out;
}

/** Exact f32 values of 16-bit bits. */
export function widen(x: HalfWeights): Float32Array {
  const out = new Float32Array(x.bits.length);
  if (x.dtype === 'bf16') {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < u.length; i++) u[i] = x.bits[i] << 16;
  } else for (let i = 0; i < out.length; i++) out[i] = f16ToF32(x.bits[i]);
  return out;
}
