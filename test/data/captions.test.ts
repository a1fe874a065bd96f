/** Caption data in its three layouts (JSONL, COCO captions annotations, Karpathy's split file); every bad record named by file:line or file#id. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captionPairs, readCaptions, readCocoCaptions, readKarpathy } from '../../src/data/captions.ts';
import { DataError } from '../../src/data/errors.ts';

/** A data directory with image files `names` under `sub` (the readers check existence and place, not pixels). */
function dir(sub: string, names: string[]): string {
  const d = mkdtempSync(join(tmpdir(), 'pg-cap-'));
  mkdirSync(join(d, sub), { recursive: true });
  for (const n of names) writeFileSync(join(d, sub, n), 'png');
  return d;
}

describe('caption data', () => {
  it('JSONL: one record per image with its captions; training pairs are one per caption', () => {
    const d = dir('imgs', ['a.png', 'b.png']);
    writeFileSync(
      join(d, 'train.jsonl'),
      `${JSON.stringify({ image: 'imgs/a.png', captions: ['a dog', 'a brown dog'] })}\n\n${JSON.stringify({ image: 'imgs/b.png', captions: 'a cat' })}\n`,
    );
    const r = readCaptions(d, 'train');
    expect(r.map((x) => [x.image, x.captions])).toEqual([
      [join(d, 'imgs/a.png'), ['a dog', 'a brown dog']],
      [join(d, 'imgs/b.png'), ['a cat']],
    ]);
    expect(captionPairs(r).map((p) => p.caption)).toEqual(['a dog', 'a brown dog', 'a cat']);
  });

  it.each([
    [
      '{"image": "imgs/a.png", "caption": ["x"]}',
      /train\.jsonl:1: unknown key "caption" \(did you mean "captions"\?\)/,
    ],
    ['{"image": "imgs/a.png", "captions": []}', /train\.jsonl:1: no captions/],
    ['{"image": "imgs/a.png", "captions": ["ok", " "]}', /train\.jsonl:1: caption 1 is empty/],
    ['{"image": "imgs/zzz.png", "captions": ["x"]}', /train\.jsonl:1: image .*zzz\.png does not exist/],
    [
      '{"image": "../outside.png", "captions": ["x"]}',
      /train\.jsonl:1: image .* (does not exist|is outside the data directory)/,
    ],
    ['[1]', /train\.jsonl:1: not a JSON object/],
  ])('JSONL refuses %s', (line, message) => {
    const d = dir('imgs', ['a.png']);
    writeFileSync(join(d, 'train.jsonl'), `${line}\n`);
    expect(() => readCaptions(join(d, 'train.jsonl'))).toThrow(message);
  });

  it("COCO's captions file: annotations grouped per image; an orphan annotation or an uncaptioned image named by id", () => {
    const d = dir('images', ['000001.jpg', '000002.jpg']);
    const images = [
      { id: 1, file_name: '000001.jpg', height: 8, width: 8 },
      { id: 2, file_name: '000002.jpg' },
    ];
    const annotations = [
      { id: 10, image_id: 2, caption: 'two' },
      { id: 11, image_id: 1, caption: 'one' },
      { id: 12, image_id: 1, caption: 'uno' },
    ];
    writeFileSync(join(d, 'captions_val2014.json'), JSON.stringify({ info: {}, images, annotations }));
    expect(readCaptions(d, 'dev').map((r) => r.captions)).toEqual([['one', 'uno'], ['two']]);
    const file = join(d, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ images, annotations: [...annotations, { id: 13, image_id: 7, caption: 'x' }] }),
    );
    expect(() => readCocoCaptions(file, join(d, 'images'))).toThrow(
      /bad\.json#13: image_id 7 is not among the file's images/,
    );
    writeFileSync(file, JSON.stringify({ images, annotations: annotations.slice(0, 1) }));
    expect(() => readCocoCaptions(file, join(d, 'images'))).toThrow(/bad\.json#1: image 000001\.jpg has no caption/);
    writeFileSync(file, JSON.stringify({ images, annotations: [{ id: 14, image_id: 1, caption: 3 }] }));
    expect(() => readCocoCaptions(file, join(d, 'images'))).toThrow(
      /bad\.json#14: "caption" must be a non-empty string/,
    );
  });

  it("Karpathy's split file: one split's images with their raw sentences, restval training with train", () => {
    const d = dir('val2014', ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg']);
    const im = (cocoid: number, filename: string, split: string, ...raw: string[]) => ({
      filepath: 'val2014',
      filename,
      cocoid,
      imgid: cocoid,
      split,
      sentences: raw.map((r) => ({ raw: r, tokens: r.split(' ') })),
    });
    const file = join(d, 'dataset_coco.json');
    writeFileSync(
      file,
      JSON.stringify({
        dataset: 'coco',
        images: [
          im(1, 'a.jpg', 'train', 'A dog.'),
          im(2, 'b.jpg', 'restval', 'A cat.'),
          im(3, 'c.jpg', 'test', 'A bird.', 'A small bird.'),
          im(4, 'd.jpg', 'val', 'A fish.'),
        ],
      }),
    );
    expect(readCaptions(d, 'train').map((r) => r.captions[0])).toEqual(['A dog.', 'A cat.']);
    expect(readCaptions(d, 'test').map((r) => r.captions)).toEqual([['A bird.', 'A small bird.']]);
    expect(readCaptions(d, 'dev').map((r) => r.captions)).toEqual([['A fish.']]);
    writeFileSync(file, JSON.stringify({ images: [{ ...im(5, 'a.jpg', 'dev', 'x') }] }));
    expect(() => readKarpathy(file, d, 'train')).toThrow(
      /dataset_coco\.json#5: "split" is "dev"; valid: "train", "restval", "val", "test"/,
    );
    writeFileSync(
      file,
      JSON.stringify({ images: [{ ...im(6, 'a.jpg', 'test', 'x'), sentences: [{ tokens: ['x'] }] }] }),
    );
    expect(() => readKarpathy(file, d, 'test')).toThrow(/dataset_coco\.json#6: sentence 0 has no "raw" text/);
  });

  it('a directory in none of the layouts says what it expected and what it found', () => {
    const d = dir('imgs', []);
    expect(() => readCaptions(d, 'test')).toThrow(DataError);
    expect(() => readCaptions(d, 'test')).toThrow(
      /expected test\.jsonl, a Karpathy dataset_\*\.json, or a COCO captions_test\*\.json with its images folder; found: imgs/,
    );
  });
});

describe("the shipped caption example's files", () => {
  it('read as caption data: three captions an image, every image of the VQA example', () => {
    const root = join(import.meta.dirname, '..', '..', 'examples', 'mnist-vqa');
    const counts = ['train', 'dev', 'test'].map((s) => readCaptions(join(root, `captions-${s}.jsonl`)));
    expect(counts.map((r) => r.length)).toEqual([400, 100, 200]);
    expect(counts.flat().every((r) => r.captions.length === 3)).toBe(true);
  });
});

describe('caption tokens', () => {
  it('end with one end-of-sequence inside the mask; a caption cut to fit is counted as truncated', async () => {
    const { TextTokenizer } = await import('../../src/data/tokenizer.ts');
    const { captionTokens } = await import('../../src/data/caption-dataset.ts');
    const tok = TextTokenizer.fromDir(join(import.meta.dirname, '..', 'fixtures', 'tokenizers', 'bpe'));
    const short = captionTokens(tok, 'what', 6);
    const n = short.mask.reduce((a, b) => a + b, 0);
    expect(short.ids[n - 1]).toBe(tok.eosId);
    expect(short.truncated).toBe(false);
    const long = captionTokens(tok, 'what is it what is it what is it', 6);
    expect(long.truncated).toBe(true);
    expect([...long.mask]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(long.ids[5]).toBe(tok.eosId);
  });
});

describe("an encoder-decoder's caption tensors", () => {
  it("the caption is the decoder's target: labels end with end-of-sequence, inputs start with the start id; the encoder reads the empty text", async () => {
    const { TextTokenizer } = await import('../../src/data/tokenizer.ts');
    const { ImageProcessor } = await import('../../src/data/image.ts');
    const { toCaptionDataset } = await import('../../src/data/caption-dataset.ts');
    const fixtures = join(import.meta.dirname, '..', 'fixtures');
    const tokenizer = TextTokenizer.fromDir(join(fixtures, 'tokenizers', 'unigram'));
    const image = join(fixtures, 'images', 'rgb.png');
    const records = [{ image, captions: ['what is the digit', 'the top digit'], where: 'c.jsonl:1' }];
    const e = {
      tokenizer,
      processor: ImageProcessor.defaults(3, [16, 16]),
      maxLen: 4,
      decoder: { targetLen: 6, start: 0 },
    };
    const ds = await toCaptionDataset(records, e, 'train');
    expect(ds.examples).toHaveLength(2);
    const [a] = ds.examples;
    // The unigram fixture: ▁what 4, ▁is 7, ▁the 10, ▁digit 11; </s> 1 ends a text, <pad> 0 pads and starts the decoder.
    expect([...(a.targetLabels as Int32Array)]).toEqual([4, 7, 10, 11, 1, 0]);
    // The labels shifted right after the start id, as HF T5's _shift_right makes decoder_input_ids.
    expect([...(a.targetTokens as Int32Array)]).toEqual([0, 4, 7, 10, 11, 1]);
    expect([...(a.targetMask as Float32Array)]).toEqual([1, 1, 1, 1, 1, 0]);
    expect([...(a.tokens as Int32Array)]).toEqual([1, 0, 0, 0]);
    expect([...(a.mask as Float32Array)]).toEqual([1, 0, 0, 0]);
    // Evaluation: one example per image, its first caption, all captions kept as references.
    const ev = await toCaptionDataset(records, e, 'eval');
    expect(ev.examples).toHaveLength(1);
    expect(ev.captions).toEqual([['what is the digit', 'the top digit']]);
    expect([...(ev.examples[0].targetLabels as Int32Array)]).toEqual([4, 7, 10, 11, 1, 0]);
  });
});
