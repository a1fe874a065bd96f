/** Decoded images as the image processor takes them, and what every decoder (node's, a browser's) refuses. */

/** An 8-bit image, rows of interleaved channels. */
export interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** The formats HF image processors read through Pillow that peftgraph decodes; others (SVG, HEIF, ...) are refused. */
export const IMAGE_FORMATS = ['png', 'jpeg', 'webp', 'gif', 'tiff'];

/** Pillow's Image.MAX_IMAGE_PIXELS: a larger image is refused from its header, before decoding (a decompression bomb). */
export const MAX_IMAGE_PIXELS = 89_478_485;
