/// <reference lib="dom" />
/**
 * The runtime's host in a browser (host-types.ts), in host.ts's place: files by fetch (an
 * artifact at a URL), images by the browser's decoder, sha256 by @noble/hashes (WebCrypto's is
 * async only, and hashing here is synchronous). Directories do not exist; an HF directory's
 * files come from an artifact's bundle instead.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { DataError } from '../data/errors.ts';
import { MAX_IMAGE_PIXELS, type Pixels } from '../data/pixels.ts';
import { FILE_LIMITS, FileError } from './file-limits.ts';
import type { ArtifactSource, Hasher, Host } from './host-types.ts';

async function fetchBytes(url: string, what: string, maxBytes: number): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new FileError(`${url}: cannot fetch the ${what} (${(e as Error).message})`);
  }
  if (!res.ok) throw new FileError(`${url}: cannot fetch the ${what} (HTTP ${res.status} ${res.statusText})`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > maxBytes)
    throw new FileError(`${url}: the ${what} is ${declared} bytes, over the ${maxBytes}-byte limit for it`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length > maxBytes)
    throw new FileError(`${url}: the ${what} holds more than ${maxBytes} bytes, the limit for it`);
  return bytes;
}

/** `file` under the artifact URL `base` (a directory URL: a trailing slash is added). */
export function urlSource(base: string | URL): ArtifactSource {
  const root = new URL(String(base).endsWith('/') ? String(base) : `${base}/`, globalThis.location?.href);
  return {
    name: root.href.replace(/\/$/, ''),
    read: (file, what, maxBytes) => fetchBytes(new URL(file, root).href, what, maxBytes),
  };
}

function nobleHasher(): Hasher {
  const h = sha256.create();
  const text = new TextEncoder();
  const self: Hasher = {
    update(data) {
      h.update(typeof data === 'string' ? text.encode(data) : data);
      return self;
    },
    digest: () => bytesToHex(h.digest()),
  };
  return self;
}

/** Formats by their first bytes: what the page decodes, as node's decoder names them (no TIFF: browsers have none). */
const SIGNATURES: [string, (b: Uint8Array) => boolean][] = [
  ['png', (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47],
  ['jpeg', (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  ['gif', (b) => b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46],
  ['webp', (b) => b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45],
];

/**
 * An image's bytes to 8-bit RGB by the browser's decoder, colour space left as stored. Opaque
 * 8-bit PNG, GIF and lossless WebP decode to the pixels node's decoder gives (test/web); a JPEG's
 * may differ from libjpeg-turbo's (the browser's own IDCT and chroma upsampling, not measured).
 * Refused rather than decoded otherwise than node: transparent pixels (a canvas premultiplies alpha, losing the colours
 * Pillow's convert('RGB') keeps) and 16-bit PNGs (the browser rounds them to 8 bits; Pillow
 * clips gray and keeps colour's high byte).
 */
async function decodeImage(bytes: Uint8Array, name: string): Promise<Pixels> {
  if (bytes.length > FILE_LIMITS.image)
    throw new DataError(`${name}: ${bytes.length} bytes, over the ${FILE_LIMITS.image}-byte limit for an image`);
  const format = SIGNATURES.find(([, is]) => is(bytes))?.[0];
  if (!format)
    throw new DataError(
      `${name}: not an image format the page decodes (formats: ${SIGNATURES.map(([f]) => f).join(', ')})`,
    );
  // IHDR follows the 8-byte signature: length (4), type (4), width (4), height (4), bit depth.
  if (format === 'png' && bytes[24] === 16)
    throw new DataError(
      `${name}: a 16-bit PNG, which a browser reduces to 8 bits otherwise than node (Pillow's rules); convert it to 8 bits, or run it in node`,
    );
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: `image/${format}` }), {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
    });
  } catch (e) {
    throw new DataError(`${name}: cannot decode the ${format} image (${(e as Error).message})`);
  }
  const { width, height } = bitmap;
  if (width * height > MAX_IMAGE_PIXELS)
    throw new DataError(`${name}: ${width} x ${height} pixels, over the limit of ${MAX_IMAGE_PIXELS}`);
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new DataError(`${name}: this browser gives no 2d canvas to read pixels from`);
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  for (let i = 3; i < rgba.length; i += 4)
    if (rgba[i] !== 255)
      throw new DataError(
        `${name}: has transparent pixels (the first at pixel ${(i - 3) / 4}); a browser's canvas premultiplies alpha, so their colours would differ from node's (Pillow keeps them). Flatten the image, or run it in node`,
      );
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    data[j] = rgba[i];
    data[j + 1] = rgba[i + 1];
    data[j + 2] = rgba[i + 2];
  }
  return { width, height, channels: 3, data };
}

const noDirectories = (path: string): never => {
  throw new FileError(
    `${path}: a browser reads no directories; load an artifact compiled with its tokenizer, processor and answers bundled (compile --adapter)`,
  );
};

export const host: Host = {
  source: urlSource,
  readFile: (where, what, maxBytes) => fetchBytes(new URL(where, globalThis.location?.href).href, what, maxBytes),
  decodeImage,
  sha256: nobleHasher,
  readJson: noDirectories,
  exists: noDirectories,
  join: (dir, name) => `${dir.replace(/\/$/, '')}/${name}`,
};
