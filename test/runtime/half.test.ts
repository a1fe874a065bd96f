/**
 * 16-bit conversions (runtime/half.ts) against brute force: the nearest representable value,
 * ties to the even bit pattern, found by searching every candidate instead of bit arithmetic.
 */
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, toBf16Bits, toF16Bits, toHalfBits, widen } from '../../src/runtime/half.ts';
import { rng } from '../helpers/random.ts';

/** The bits among `candidates` (sorted by value, finite) nearest to x, ties to the even pattern. */
function nearest(x: number, candidates: { bits: number; v: number }[]): number {
  let lo = 0;
  let hi = candidates.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (candidates[mid].v <= x) lo = mid;
    else hi = mid;
  }
  const [a, b] = [candidates[lo], candidates[hi]];
  const da = Math.abs(x - a.v);
  const db = Math.abs(b.v - x);
  if (da !== db) return da < db ? a.bits : b.bits;
  return a.bits % 2 === 0 ? a.bits : b.bits;
}

function table(toF32: (h: number) => number): { bits: number; v: number }[] {
  const out: { bits: number; v: number }[] = [];
  for (let h = 0; h < 0x10000; h++) {
    const v = toF32(h);
    // -0 and +0 compare equal: keep +0 (and x = -0 is not drawn below).
    if (Number.isFinite(v) && !Object.is(v, -0)) out.push({ bits: h, v });
  }
  return out.sort((p, q) => p.v - q.v);
}

const samples = (): number[] => {
  const r = rng(16);
  const xs = [1, -1, 0.1, 1 / 3, 65504, 65519, 6e-8, 1e-5, Math.PI, 1 + 2 ** -8, 1 + 3 * 2 ** -9, 255.5];
  for (let i = 0; i < 3000; i++) xs.push(Math.fround((r() - 0.5) * 10 ** (r() * 10 - 6)));
  return xs;
};

describe('bf16 and f16 bit patterns', () => {
  it('bf16: nearest value, ties to even, for normal values; exact widening', () => {
    const t = table(bf16ToF32);
    for (const x of samples()) expect(toBf16Bits(x), String(x)).toBe(nearest(Math.fround(x), t));
    expect(bf16ToF32(toBf16Bits(Number.NaN))).toBeNaN();
    expect(bf16ToF32(toBf16Bits(Number.POSITIVE_INFINITY))).toBe(Number.POSITIVE_INFINITY);
    for (const h of [0x3f80, 0xc049, 0x0001, 0x7f7f]) expect(toBf16Bits(bf16ToF32(h))).toBe(h);
  });

  it('f16: nearest value, ties to even, subnormals included; beyond the largest half, infinity', () => {
    const t = table(f16ToF32);
    for (const x of samples()) {
      if (Math.abs(x) >= 65520) continue;
      const b = nearest(Math.fround(x), t);
      expect(toF16Bits(x), String(x)).toBe(b === 0 && x < 0 ? 0x8000 : b); // a negative underflow is -0
    }
    expect(f16ToF32(toF16Bits(70000))).toBe(Number.POSITIVE_INFINITY);
    expect(f16ToF32(toF16Bits(Number.NaN))).toBeNaN();
  });

  it('a 16-bit tensor uploads as it is in its own dtype, and converts exactly through f32 otherwise', () => {
    const bits = Uint16Array.from([0x3f80, 0x4049, 0xbe00]);
    expect(toHalfBits({ dtype: 'bf16', bits }, 'bf16')).toBe(bits);
    expect([...widen({ dtype: 'bf16', bits })]).toEqual([1, 3.140625, -0.125]);
    expect([...toHalfBits({ dtype: 'bf16', bits }, 'f16')].map(f16ToF32)).toEqual([1, 3.140625, -0.125]);
  });
});
