/**
 * Image file bytes to 8-bit RGB in node, by `sharp` (libvips with libjpeg-turbo, libpng, ...): its
 * pixels equal Pillow's bit for bit on the fixtures, JPEG chroma upsampling included. The runtime
 * reaches it through the host (runtime/host.ts); a browser decodes with its own decoder.
 */
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { FILE_LIMITS } from '../runtime/file-limits.ts';
import { DataError } from './errors.ts';
import { IMAGE_FORMATS, MAX_IMAGE_PIXELS, type Pixels } from './pixels.ts';

/**
 * Decodes an image file's bytes to 8-bit RGB as Pillow's Image.open(path).convert('RGB') does: alpha
 * dropped, gray and palette expanded; an embedded ICC profile ignored (Pillow applies none unless
 * asked); CMYK by Pillow's own formula, not through a colour profile; 16-bit gray clipped to
 * 0..255 and 16-bit colour reduced to its high byte, as Pillow's modes do; no EXIF rotation. The
 * format and the pixel count are checked from the header first.
 */
export async function decodeImage(bytes: Uint8Array, path = 'image'): Promise<Pixels> {
  if (bytes.length > FILE_LIMITS.image)
    throw new DataError(`${path}: ${bytes.length} bytes, over the ${FILE_LIMITS.image}-byte limit for an image`);
  const fail = (why: string) => new DataError(`${path}: cannot decode the image (${why})`);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { ignoreIcc: true, limitInputPixels: false }).metadata();
  } catch (e) {
    throw fail((e as Error).message);
  }
  if (!meta.format || !IMAGE_FORMATS.includes(meta.format))
    throw new DataError(
      `${path}: ${meta.format ?? 'an unknown'} image is not supported (formats: ${IMAGE_FORMATS.join(', ')})`,
    );
  const [w, h] = [meta.width ?? 0, meta.height ?? 0];
  if (w * h > MAX_IMAGE_PIXELS)
    throw new DataError(
      `${path}: the image declares ${w} x ${h} = ${w * h} pixels, over the limit of ${MAX_IMAGE_PIXELS} (Pillow's MAX_IMAGE_PIXELS)`,
    );
  try {
    const img = sharp(bytes, { ignoreIcc: true, limitInputPixels: MAX_IMAGE_PIXELS });
    if (meta.space === 'cmyk')
      return cmykLikePil(
        await img.pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true }),
      );
    if (meta.depth === 'ushort') {
      const gray = meta.space === 'grey16' || meta.space === 'b-w';
      const { data, info } = await img
        .removeAlpha()
        .toColourspace(gray ? 'grey16' : 'rgb16')
        .raw({ depth: 'ushort' })
        .toBuffer({ resolveWithObject: true });
      const u = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
      const n = info.width * info.height;
      const out = new Uint8Array(n * 3);
      // Pillow: 16-bit gray is mode I, whose RGB conversion clips; 16-bit colour keeps the high byte.
      if (gray) for (let i = 0; i < n; i++) out.fill(Math.min(255, u[i * info.channels]), 3 * i, 3 * i + 3);
      else for (let i = 0; i < n * 3; i++) out[i] = u[Math.floor(i / 3) * info.channels + (i % 3)] >> 8;
      return { width: info.width, height: info.height, channels: 3, data: out };
    }
    const { data, info } = await img
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return {
      width: info.width,
      height: info.height,
      channels: 3,
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    };
  } catch (e) {
    throw fail((e as Error).message);
  }
}

/** Pillow's CMYK -> RGB (Convert.c cmyk2rgb): nk = 255 - k; each channel nk - c * nk / 255, rounded as MULDIV255. */
function cmykLikePil({ data, info }: { data: Buffer; info: OutputInfo }): Pixels {
  if (info.channels !== 4) throw new Error(`CMYK decoded to ${info.channels} channels`);
  const n = info.width * info.height;
  const out = new Uint8Array(n * 3);
  const muldiv255 = (a: number, b: number) => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let i = 0; i < n; i++) {
    const nk = 255 - data[4 * i + 3];
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.max(0, Math.min(255, nk - muldiv255(data[4 * i + c], nk)));
  }
  return { width: info.width, height: info.height, channels: 3, data: out };
}
