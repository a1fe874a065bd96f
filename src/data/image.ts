/**
 * Image files to model inputs. Decoding is the host's: `sharp` in node (image-decode.ts), whose
 * pixels equal Pillow's, which HF image processors use, bit for bit on the fixtures (a pure-JS
 * JPEG decoder was 8 levels off at edges); the browser's own decoder in a page. Then what the
 * processor does, as its preprocessor_config.json says: RGB (or luma for 1-channel models) ->
 * resize (PIL's resampling, resize.ts) -> center crop -> rescale -> normalize -> [C, H, W] f32.
 */
import { FILE_LIMITS } from '../runtime/file-limits.ts';
import { host } from '../runtime/host.ts';
import { z } from 'zod';
import { DataError } from './errors.ts';
import { MAX_IMAGE_PIXELS, type Pixels } from './pixels.ts';
import { PIL_RESAMPLE, resizeLikePil, type Resample } from './resize.ts';

export { IMAGE_FORMATS, MAX_IMAGE_PIXELS, type Pixels } from './pixels.ts';

/**
 * Reads and decodes an image file as Pillow's Image.open(path).convert('RGB') does (image-decode.ts
 * in node; the browser's decoder in a page, runtime/host.browser.ts).
 */
export async function readImage(path: string): Promise<Pixels> {
  return host.decodeImage(await host.readFile(path, 'image', FILE_LIMITS.image), path);
}

/** RGB -> luma, PIL's convert('L'): L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 (ITU-R 601-2). */
export function toLuma(p: Pixels): Pixels {
  if (p.channels === 1) return p;
  const n = p.width * p.height;
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++)
    data[i] = (19595 * p.data[3 * i] + 38470 * p.data[3 * i + 1] + 7471 * p.data[3 * i + 2] + 0x8000) >>> 16;
  return { width: p.width, height: p.height, channels: 1, data };
}

// Strict: a size with a field peftgraph does not apply (longest_edge, max_height) is refused, not trimmed.
// Sides are bounded as spec image sizes are (8,192 pixels): a resize target of 65,536 would allocate gigabytes.
const side = z.number().int().positive().max(8192);
const size = z.union([side, z.strictObject({ height: side, width: side }), z.strictObject({ shortest_edge: side })]);
/** A per-channel statistic: finite, and for a std never 0 (it divides). */
const stat = (what: 'mean' | 'std') => {
  const v =
    what === 'std'
      ? z.number().refine((x) => Number.isFinite(x) && x !== 0, 'must be finite and not 0 (it divides)')
      : z.number().refine(Number.isFinite, 'must be finite');
  return z.union([v, z.array(v)]);
};

/** The fields of preprocessor_config.json peftgraph reads, with ViTImageProcessor's defaults. */
export const ProcessorConfig = z.object({
  do_resize: z.boolean().default(true),
  size: size.default({ height: 224, width: 224 }),
  resample: z.number().int().min(0).max(5).default(2),
  do_center_crop: z.boolean().default(false),
  crop_size: size.optional(),
  do_rescale: z.boolean().default(true),
  rescale_factor: z
    .number()
    .positive()
    .default(1 / 255),
  do_normalize: z.boolean().default(true),
  image_mean: stat('mean').default([0.5, 0.5, 0.5]),
  image_std: stat('std').default([0.5, 0.5, 0.5]),
});
export type ProcessorConfig = z.infer<typeof ProcessorConfig>;

/**
 * Fields of HF processor configs that name things rather than change pixels; any other field
 * peftgraph does not read (do_pad, crop_pct, do_reduce_labels, ...) is an error naming it.
 */
const NAMING_FIELDS = new Set([
  'image_processor_type',
  'feature_extractor_type',
  'processor_class',
  '_processor_class',
  'auto_map',
  'model_input_names',
]);

/** A preprocessor_config.json object as ProcessorConfig, refusing fields it would otherwise drop. */
export function parseProcessorConfig(raw: unknown, path: string): ProcessorConfig {
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    const known = new Set(Object.keys(ProcessorConfig.shape));
    const unknown = Object.keys(o).filter(
      (k) => !known.has(k) && !NAMING_FIELDS.has(k) && !(k === 'do_convert_rgb' && o[k] !== false),
    );
    if (unknown.length)
      throw new DataError(
        `${path}: ${unknown.map((k) => `${k} = ${JSON.stringify(o[k])}`).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not supported (peftgraph applies: ${[...known, 'do_convert_rgb: true'].join(', ')})`,
      );
  }
  const r = ProcessorConfig.safeParse(raw);
  if (!r.success)
    throw new DataError(
      `${path}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

/** (height, width) after resizing an h x w image: fixed, or the shortest edge scaled (long edge truncated, as HF does). */
function resizedSize(s: z.infer<typeof size>, h: number, w: number): [number, number] {
  if (typeof s === 'number') return [s, s];
  if ('height' in s) return [s.height, s.width];
  const short = s.shortest_edge;
  return w <= h ? [Math.trunc((short * h) / w), short] : [short, Math.trunc((short * w) / h)];
}

/** Crops the center (HF's center_crop: top = floor((H - h) / 2)); pads with zeros where the crop is larger. */
function centerCrop(p: Pixels, ch: number, cw: number): Pixels {
  const top = Math.floor((p.height - ch) / 2);
  const left = Math.floor((p.width - cw) / 2);
  const data = new Uint8Array(ch * cw * p.channels);
  for (let y = 0; y < ch; y++)
    for (let x = 0; x < cw; x++) {
      const [sy, sx] = [y + top, x + left];
      if (sy < 0 || sx < 0 || sy >= p.height || sx >= p.width) continue;
      for (let c = 0; c < p.channels; c++)
        data[(y * cw + x) * p.channels + c] = p.data[(sy * p.width + sx) * p.channels + c];
    }
  return { width: cw, height: ch, channels: p.channels, data };
}

export class ImageProcessor {
  constructor(
    readonly config: ProcessorConfig,
    /** The model's input channels (3, or 1 for gray models) and size [H, W]. */
    readonly channels: number,
    readonly image: [number, number],
    readonly source = 'preprocessor_config.json',
  ) {
    const resample = PIL_RESAMPLE[config.resample];
    if (config.do_resize && resample === 'nearest')
      throw new DataError(
        `${source}: resample 0 (nearest) is not supported (valid: 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)`,
      );
    for (const k of ['image_mean', 'image_std'] as const) {
      const v = config[k];
      if (Array.isArray(v) && v.length !== channels)
        throw new DataError(`${source}: ${k} has ${v.length} values for a ${channels}-channel model`);
    }
  }

  /** sha256 of everything that decides the pixels: the config and the model's channels and size (a run's identity records it). */
  get fingerprint(): string {
    return host
      .sha256()
      .update(JSON.stringify([this.config, this.channels, this.image]))
      .digest();
  }

  /** Resize to the model's size (bilinear), rescale to [0, 1], normalize with mean = std = 0.5. */
  static defaults(channels: number, image: [number, number], why = 'defaults'): ImageProcessor {
    return new ImageProcessor(
      ProcessorConfig.parse({
        size: { height: image[0], width: image[1] },
        image_mean: Array(channels).fill(0.5),
        image_std: Array(channels).fill(0.5),
      }),
      channels,
      image,
      why,
    );
  }

  /** preprocessor_config.json of a directory; without one, the defaults sized to the model. */
  static fromDir(dir: string, channels: number, image: [number, number]): ImageProcessor {
    const path = host.join(dir, 'preprocessor_config.json');
    if (!host.exists(path))
      return ImageProcessor.defaults(channels, image, `${dir} (no preprocessor_config.json: defaults)`);
    return ImageProcessor.fromConfig(host.readJson(path, 'preprocessor config'), channels, image, path);
  }

  /** A parsed preprocessor_config.json (`source` names it in errors): a directory's, or an artifact's bundled one. */
  static fromConfig(json: unknown, channels: number, image: [number, number], source: string): ImageProcessor {
    return new ImageProcessor(parseProcessorConfig(json, source), channels, image, source);
  }

  /** 8-bit pixels after color conversion, resize and crop (what PIL would hand to numpy). */
  pixels(p: Pixels): Pixels {
    const c = this.config;
    let img = this.channels === 1 ? toLuma(p) : p;
    if (c.do_resize) {
      const [h, w] = resizedSize(c.size, img.height, img.width);
      // shortest_edge scales the long edge with it: a thin image could ask for a huge one.
      if (h * w > MAX_IMAGE_PIXELS)
        throw new DataError(
          `${this.source}: resizing a ${img.width}x${img.height} image to ${w}x${h} exceeds ${MAX_IMAGE_PIXELS} pixels`,
        );
      if (h !== img.height || w !== img.width)
        img = {
          width: w,
          height: h,
          channels: img.channels,
          data: resizeLikePil(
            img.data,
            img.width,
            img.height,
            img.channels,
            w,
            h,
            PIL_RESAMPLE[c.resample] as Resample,
          ),
        };
    }
    if (c.do_center_crop) {
      const [h, w] = resizedSize(c.crop_size ?? c.size, img.height, img.width);
      img = centerCrop(img, h, w);
    }
    return img;
  }

  /** The model input for one image: [C, H, W] float32, checked against the model's size. */
  process(p: Pixels, where = 'image'): Float32Array {
    const c = this.config;
    const img = this.pixels(p);
    if (img.height !== this.image[0] || img.width !== this.image[1]) {
      throw new DataError(
        `${where}: ${this.source} turns a ${p.width}x${p.height} image into ${img.width}x${img.height}, but the model takes ${this.image[1]}x${this.image[0]}`,
      );
    }
    const ch = img.channels;
    const n = img.width * img.height;
    const per = (v: number | number[], k: number) => (Array.isArray(v) ? v[k] : v);
    const out = new Float32Array(ch * n);
    for (let k = 0; k < ch; k++) {
      const mean = per(c.image_mean, k);
      const std = per(c.image_std, k);
      for (let i = 0; i < n; i++) {
        let v = img.data[i * ch + k];
        if (c.do_rescale) v *= c.rescale_factor;
        if (c.do_normalize) v = (v - mean) / std;
        out[k * n + i] = v;
      }
    }
    return out;
  }

  /** Reads, decodes and processes an image file (a path), or an image file's bytes. */
  async load(image: string | Uint8Array): Promise<Float32Array> {
    if (typeof image === 'string') return this.process(await readImage(image), image);
    return this.process(await host.decodeImage(image, 'image bytes'), 'image bytes');
  }
}
