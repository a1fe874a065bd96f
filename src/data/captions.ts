/**
 * Caption data read directly, in the three layouts captioning work uses:
 * - JSONL, `{"image": "imgs/1.png", "captions": ["...", ...]}` a line, image paths relative to
 *   the file (peftgraph's own; unknown keys refused);
 * - COCO's captions annotations, `captions_<split><year>.json` (`images`: id and file_name,
 *   `annotations`: image_id and caption), with the images in a folder beside it;
 * - Karpathy's split file, `dataset_coco.json` (`images`: filepath, filename, split and
 *   `sentences` with `raw`), the split the captioning papers report on; its `restval` images
 *   train with `train`, as the published code does.
 * Every bad record is an error naming file:line or file#id. Each record is one image with all
 * its captions: training makes one example per caption (as Routing_VLPEFT's COCO dataset does,
 * every annotation an example each epoch), evaluation scores one generated caption per image
 * against all of them.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readJsonFile, readText } from '../runtime/files.ts';
import { DataError } from './errors.ts';
import { checkImage } from './image-path.ts';

export interface CaptionRecord {
  /** Absolute path of the image file. */
  image: string;
  /** Its reference captions, as given (at least one). */
  captions: string[];
  /** Where the record came from, for messages: file:line or file#id. */
  where: string;
}

/** A split by its role; Karpathy's file calls the dev split 'val'. */
export type CaptionSplit = 'train' | 'dev' | 'test';

function captionsOf(v: unknown, where: string): string[] {
  const list = typeof v === 'string' ? [v] : Array.isArray(v) ? v : null;
  if (!list?.every((c) => typeof c === 'string'))
    throw new DataError(`${where}: "captions" must be a string or a list of strings`);
  if (!list.length) throw new DataError(`${where}: no captions`);
  const blank = list.findIndex((c) => !(c as string).trim());
  if (blank >= 0) throw new DataError(`${where}: caption ${blank} is empty`);
  return list as string[];
}

/** JSONL: {"image": "...", "captions": ["...", ...]} per line. */
export function readCaptionJsonl(path: string, allowOutside = false): CaptionRecord[] {
  const base = dirname(resolve(path));
  const out: CaptionRecord[] = [];
  readText(path, 'JSONL file')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      const where = `${path}:${i + 1}`;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch (e) {
        throw new DataError(`${where}: not a JSON object (${(e as Error).message})`);
      }
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new DataError(`${where}: not a JSON object`);
      const rec = o as Record<string, unknown>;
      const unknown = Object.keys(rec).filter((k) => k !== 'image' && k !== 'captions');
      if (unknown.length)
        throw new DataError(
          `${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}${unknown.includes('caption') ? ' (did you mean "captions"?)' : ''}; a record has "image" and "captions"${unknown.includes('question') ? ' (this is a VQA record: an LM head reads caption files; VQA files train a classifier head)' : ''}`,
        );
      if (typeof rec.image !== 'string')
        throw new DataError(`${where}: "image" must be a file path (relative to ${base})`);
      const image = checkImage(resolve(base, rec.image), where, { root: base, allowOutside });
      out.push({ image, captions: captionsOf(rec.captions, where), where });
    });
  if (!out.length) throw new DataError(`${path}: no records`);
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** COCO's captions annotations: images by id, annotations grouped per image (every image must have one). */
export function readCocoCaptions(annotations: string, images: string, allowOutside = false): CaptionRecord[] {
  const data = readJsonFile(annotations, 'COCO captions file');
  if (!isObject(data) || !Array.isArray(data.images) || !Array.isArray(data.annotations))
    throw new DataError(`${annotations}: expected "images" and "annotations" lists (a COCO captions_*.json file)`);
  const files = new Map<number, string>();
  const captions = new Map<number, string[]>();
  data.images.forEach((im, i) => {
    if (!isObject(im) || !Number.isInteger(im.id) || typeof im.file_name !== 'string')
      throw new DataError(`${annotations}: image ${i} needs an integer "id" and a "file_name"`);
    const id = im.id as number;
    if (files.has(id)) throw new DataError(`${annotations}#${id}: image id given twice`);
    files.set(id, im.file_name);
    captions.set(id, []);
  });
  data.annotations.forEach((a, i) => {
    if (!isObject(a) || !Number.isInteger(a.image_id))
      throw new DataError(`${annotations}: annotation ${i} needs an integer "image_id"`);
    const where = `${annotations}#${Number.isInteger(a.id) ? a.id : `annotation ${i}`}`;
    const list = captions.get(a.image_id as number);
    if (!list) throw new DataError(`${where}: image_id ${a.image_id} is not among the file's images`);
    if (typeof a.caption !== 'string' || !a.caption.trim())
      throw new DataError(`${where}: "caption" must be a non-empty string`);
    list.push(a.caption);
  });
  return [...files].map(([id, file]) => {
    const where = `${annotations}#${id}`;
    const list = captions.get(id)!;
    if (!list.length) throw new DataError(`${where}: image ${file} has no caption`);
    return { image: checkImage(resolve(images, file), where, { root: images, allowOutside }), captions: list, where };
  });
}

/** Karpathy's split file: the images of one split (`train` includes `restval`, `dev` is its `val`), with their sentences' raw text. */
export function readKarpathy(file: string, root: string, split: CaptionSplit, allowOutside = false): CaptionRecord[] {
  const data = readJsonFile(file, 'Karpathy split file');
  if (!isObject(data) || !Array.isArray(data.images))
    throw new DataError(`${file}: expected an "images" list (a Karpathy dataset_*.json file)`);
  const wanted = split === 'train' ? ['train', 'restval'] : split === 'dev' ? ['val'] : ['test'];
  const out: CaptionRecord[] = [];
  data.images.forEach((im, i) => {
    if (!isObject(im)) throw new DataError(`${file}: image ${i} is not an object`);
    const where = `${file}#${Number.isInteger(im.cocoid) ? im.cocoid : Number.isInteger(im.imgid) ? im.imgid : `image ${i}`}`;
    if (typeof im.split !== 'string' || !['train', 'restval', 'val', 'test'].includes(im.split))
      throw new DataError(`${where}: "split" is ${JSON.stringify(im.split)}; valid: "train", "restval", "val", "test"`);
    if (!wanted.includes(im.split)) return;
    if (typeof im.filename !== 'string') throw new DataError(`${where}: "filename" must be a string`);
    if (im.filepath !== undefined && typeof im.filepath !== 'string')
      throw new DataError(`${where}: "filepath" must be a string`);
    if (!Array.isArray(im.sentences) || !im.sentences.length) throw new DataError(`${where}: no "sentences"`);
    const captions = im.sentences.map((s, j) => {
      const raw = isObject(s) ? s.raw : undefined;
      if (typeof raw !== 'string' || !raw.trim()) throw new DataError(`${where}: sentence ${j} has no "raw" text`);
      return raw;
    });
    const image = resolve(root, (im.filepath as string | undefined) ?? '', im.filename);
    out.push({ image: checkImage(image, where, { root, allowOutside }), captions, where });
  });
  if (!out.length) throw new DataError(`${file}: no images in split "${wanted.join('" or "')}"`);
  return out;
}

/**
 * Records from a path: a .jsonl file; a directory holding `<split>.jsonl`; one holding Karpathy's
 * `dataset_*.json` (images below it as its filepath/filename say); or one holding a single COCO
 * `captions_*.json` with an images folder (`images/`, or the one folder there).
 */
export function readCaptions(path: string, split: CaptionSplit = 'train', allowOutside = false): CaptionRecord[] {
  if (!existsSync(path)) throw new DataError(`${path}: no such file or directory`);
  if (!statSync(path).isDirectory()) return readCaptionJsonl(path, allowOutside);
  const files = readdirSync(path);
  if (files.includes(`${split}.jsonl`)) return readCaptionJsonl(join(path, `${split}.jsonl`), allowOutside);
  const karpathy = files.filter((f) => /^dataset_.*\.json$/.test(f));
  if (karpathy.length === 1) return readKarpathy(join(path, karpathy[0]), path, split, allowOutside);
  // COCO: captions_<split><year>.json (val for dev); a lone captions file is the training split.
  const coco = files.filter((f) => /^captions_.*\.json$/.test(f));
  const name = { train: 'train', dev: 'val', test: 'test' }[split];
  const mine = coco.filter((f) => f.startsWith(`captions_${name}`));
  const file = mine.length === 1 ? mine[0] : coco.length === 1 && split === 'train' ? coco[0] : null;
  const folders = files.filter((f) => statSync(join(path, f)).isDirectory());
  // Its images: the folder named as the file's split and year (val2014), else images/, else the only folder.
  const stem = file?.replace(/^captions_/, '').replace(/\.json$/, '');
  const images =
    file &&
    (folders.find((f) => f === stem) ??
      (folders.includes('images') ? 'images' : folders.length === 1 ? folders[0] : null));
  if (file && images) return readCocoCaptions(join(path, file), join(path, images), allowOutside);
  throw new DataError(
    `${path}: expected ${split}.jsonl, a Karpathy dataset_*.json, or a COCO captions_${name}*.json with its images folder; found: ${files.join(', ') || 'nothing'}`,
  );
}

/** Training examples: one per caption (every annotation, every epoch), as Routing_VLPEFT trains. */
export function captionPairs(records: CaptionRecord[]): { image: string; caption: string; where: string }[] {
  return records.flatMap((r) =>
    r.captions.map((caption, i) => ({ image: r.image, caption, where: `${r.where} caption ${i}` })),
  );
}
