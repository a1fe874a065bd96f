/**
 * Image decoding and preprocessing against Pillow (scripts/fixtures/image_fixtures.py): decoded
 * PNG and JPEG pixels and every resize filter bit-exact, and an HF processor's whole pipeline
 * (ViT-style, CLIP-style) within float32 rounding.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { crc32, deflateSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageProcessor, parseProcessorConfig, ProcessorConfig, readImage } from '../../src/data/image.ts';
import { resizeLikePil, type Resample } from '../../src/data/resize.ts';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'images');
const want = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8'));
const config = (name: string) =>
  parseProcessorConfig(JSON.parse(readFileSync(join(DIR, `preprocessor_${name}.json`), 'utf8')), name);

describe('decoding', () => {
  // icc.png embeds an Adobe RGB profile (Pillow ignores it), cmyk.jpg is CMYK (Pillow's own formula),
  // gray16.png and rgb16.png are 16-bit (Pillow clips gray, keeps colour's high byte).
  for (const name of [
    'rgb.png',
    'rgba.png',
    'gray.png',
    'palette.png',
    'photo.jpg',
    'icc.png',
    'cmyk.jpg',
    'gray16.png',
    'rgb16.png',
  ]) {
    it(`${name}: the RGB pixels PIL's convert('RGB') gives`, async () => {
      const p = await readImage(join(DIR, name));
      expect([p.height, p.width, p.channels]).toEqual(want.decoded[name].shape);
      expect(Array.from(p.data)).toEqual(want.decoded[name].data);
    });
  }

  it('refuses formats it does not decode as Pillow does (SVG) and a header declaring more pixels than the limit, before decoding', async () => {
    const d = mkdtempSync(join(tmpdir(), 'img-'));
    writeFileSync(
      join(d, 'x.svg'),
      '<svg xmlns="http://www.w3.org/2000/svg" width="16384" height="16384"><rect width="10" height="10"/></svg>',
    );
    await expect(readImage(join(d, 'x.svg'))).rejects.toThrow(
      /x\.svg: svg image is not supported \(formats: png, jpeg, webp, gif, tiff\)/,
    );
    // A PNG header claiming 16384 x 16384 over a few bytes of data: refused without allocating it.
    const chunk = (kind: string, data: Buffer) => {
      const body = Buffer.concat([Buffer.from(kind), data]);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(body));
      return Buffer.concat([len, body, crc]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(16384, 0);
    ihdr.writeUInt32BE(16384, 4);
    ihdr.set([8, 0, 0, 0, 0], 8);
    writeFileSync(
      join(d, 'bomb.png'),
      Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        chunk('IHDR', ihdr),
        chunk('IDAT', deflateSync(Buffer.alloc(1000))),
        chunk('IEND', Buffer.alloc(0)),
      ]),
    );
    await expect(readImage(join(d, 'bomb.png'))).rejects.toThrow(
      /bomb\.png: the image declares 16384 x 16384 = 268435456 pixels, over the limit of 89478485/,
    );
  });

  it('names the file when it is missing or not an image', async () => {
    await expect(readImage(join(DIR, 'nope.png'))).rejects.toThrow(/nope\.png: cannot read the image \(ENOENT\)/);
    await expect(readImage(join(DIR, 'not-an-image.png'))).rejects.toThrow(
      /not-an-image\.png: cannot decode the image \(.*unsupported image format/,
    );
  });
});

describe("resizing like PIL's Image.resize", () => {
  for (const r of want.resized as {
    image: string;
    width: number;
    height: number;
    filter: Resample;
    data: number[];
  }[]) {
    it(`${r.image} -> ${r.width}x${r.height} ${r.filter}: bit-exact`, async () => {
      const p = await readImage(join(DIR, r.image));
      expect(Array.from(resizeLikePil(p.data, p.width, p.height, 3, r.width, r.height, r.filter))).toEqual(r.data);
    });
  }
});

describe('HF image processor steps', () => {
  for (const r of want.processed as { image: string; config: string; shape: number[]; data: number[] }[]) {
    it(`${r.image} through the ${r.config} config: [C, H, W] within float32 rounding`, async () => {
      const [C, H, W] = r.shape;
      const out = await new ImageProcessor(config(r.config), C, [H, W]).load(join(DIR, r.image));
      expect(out.length).toBe(r.data.length);
      for (let i = 0; i < out.length; i++) expect(Math.abs(out[i] - r.data[i])).toBeLessThan(2e-6);
    });
  }

  it('refuses what it cannot do, naming the file and the fix', async () => {
    expect(() => new ImageProcessor(ProcessorConfig.parse({ resample: 0 }), 3, [224, 224])).toThrow(
      /resample 0 \(nearest\) is not supported/,
    );
    expect(() => new ImageProcessor(ProcessorConfig.parse({}), 1, [224, 224])).toThrow(
      /image_mean has 3 values for a 1-channel model/,
    );
    await expect(new ImageProcessor(config('vit'), 3, [32, 32]).load(join(DIR, 'rgb.png'))).rejects.toThrow(
      /rgb\.png: .* turns a 37x23 image into 16x16, but the model takes 32x32/,
    );
  });

  it('refuses every field it would drop or misapply, naming it (never a silent default, never NaN)', () => {
    const p = (o: object) => () => parseProcessorConfig(o, 'pp.json');
    expect(p({ do_pad: true, pad_size: 8 })).toThrow(
      /pp\.json: do_pad = true, pad_size = 8 are not supported \(peftgraph applies: do_resize, size/,
    );
    expect(p({ size: { shortest_edge: 224, longest_edge: 1333 } })).toThrow(/pp\.json: size: /);
    expect(p({ image_std: [0.5, 0, 0.5] })).toThrow(/pp\.json: image_std\.1: must be finite and not 0/);
    expect(p({ image_std: 0 })).toThrow(/image_std: must be finite and not 0/);
    expect(p({ do_convert_rgb: false })).toThrow(/do_convert_rgb = false is not supported/);
    // Names of the processor class are not pixels: accepted.
    expect(
      p({ image_processor_type: 'ViTImageProcessor', do_convert_rgb: true, size: { height: 8, width: 8 } })(),
    ).toMatchObject({ size: { height: 8, width: 8 } });
  });
});
