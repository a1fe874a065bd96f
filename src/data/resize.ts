/**
 * Image resizing that gives the pixels PIL's `Image.resize` gives for 8-bit images, because HF
 * image processors resize through PIL and a pretrained model saw exactly those pixels.
 * PIL resamples separably (horizontal pass, then vertical), with each output pixel a weighted
 * sum of the inputs under the filter stretched by the downscale factor (antialiasing), weights
 * normalized then quantized to 22-bit fixed point, and every pass rounded and clipped to 8 bits.
 */

export type Resample = 'bilinear' | 'bicubic' | 'box' | 'hamming' | 'lanczos';

/** PIL's resample codes, as preprocessor_config.json writes them. */
export const PIL_RESAMPLE: Record<number, Resample | 'nearest'> = {
  0: 'nearest',
  1: 'lanczos',
  2: 'bilinear',
  3: 'bicubic',
  4: 'box',
  5: 'hamming',
};

const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));

const FILTERS: Record<Resample, { support: number; f: (x: number) => number }> = {
  box: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, f: (x) => Math.max(0, 1 - Math.abs(x)) },
  hamming: {
    support: 1,
    f: (x) =>
      x <= -1 || x >= 1
        ? 0
        : x === 0
          ? 1
          : (Math.sin(Math.PI * x) / (Math.PI * x)) * (0.54 + 0.46 * Math.cos(Math.PI * x)),
  },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, f: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PRECISION_BITS = 32 - 8 - 2;

interface Coeffs {
  ksize: number;
  /** Per output index: first input index and count. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output index. */
  k: Int32Array;
}

/** Weights for resampling `inSize` samples to `outSize` (PIL's precompute_coeffs + 8-bit normalization). */
function coefficients(inSize: number, outSize: number, filter: Resample): Coeffs {
  const { support: base, f } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = base * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = f((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      k[xx * ksize + x] =
        v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, k };
}

const clip8 = (v: number) =>
  v >= 1 << (PRECISION_BITS + 8) ? 255 : v <= 0 ? 0 : Math.floor(v / (1 << PRECISION_BITS));

/** One pass along an axis of an interleaved 8-bit image [rows][cols][channels] (`horizontal`: along cols). */
function pass(
  src: Uint8Array,
  rows: number,
  cols: number,
  ch: number,
  c: Coeffs,
  horizontal: boolean,
  outLen: number,
): Uint8Array {
  const outRows = horizontal ? rows : outLen;
  const outCols = horizontal ? outLen : cols;
  const out = new Uint8Array(outRows * outCols * ch);
  const half = 1 << (PRECISION_BITS - 1);
  for (let r = 0; r < outRows; r++)
    for (let q = 0; q < outCols; q++) {
      const o = horizontal ? q : r;
      const min = c.bounds[2 * o];
      const n = c.bounds[2 * o + 1];
      for (let z = 0; z < ch; z++) {
        let s = half;
        for (let i = 0; i < n; i++) {
          const px = horizontal ? src[(r * cols + min + i) * ch + z] : src[((min + i) * cols + q) * ch + z];
          s += px * c.k[o * c.ksize + i];
        }
        out[(r * outCols + q) * ch + z] = clip8(s);
      }
    }
  return out;
}

/** Resizes an interleaved 8-bit image (height x width x channels) as PIL's Image.resize does. */
export function resizeLikePil(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  filter: Resample,
): Uint8Array {
  let img = src;
  if (outWidth !== width)
    img = pass(img, height, width, channels, coefficients(width, outWidth, filter), true, outWidth);
  if (outHeight !== height)
    img = pass(img, height, outWidth, channels, coefficients(height, outHeight, filter), false, outHeight);
  return img === src ? Uint8Array.from(src) : img;
}
