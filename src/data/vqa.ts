/**
 * VQA data read directly: a JSONL file (`{"image", "question", "answers"}` a line, image paths
 * relative to the file) or the VQAv2 layout (questions JSON + annotations JSON with 10 answers
 * each + a COCO image folder); the k-shot draw of METHODS.md; and the tensors a model takes
 * (image [C, H, W], token ids, mask, soft targets) through the checkpoint's tokenizer and
 * image processor. Bad records are errors naming the file and the record.
 */
import { readJsonFile as readJson, readText } from '../runtime/files.ts';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { checkImage, type ImageScope } from './image-path.ts';
export type { ImageScope } from './image-path.ts';
import { DataError } from './errors.ts';
import type { AnswerVocab } from './answers.ts';
import type { TextTokenizer } from './tokenizer.ts';
import type { ImageProcessor } from './image.ts';
import { shuffled, type Dataset, type Example } from '../runtime/batches.ts';

export interface VqaRecord {
  /** Absolute path of the image file. */
  image: string;
  question: string;
  /** The annotators' answers, as given. */
  answers: string[];
  /** Where the record came from, for messages: file:line or file#question_id. */
  where: string;
}

function readJsonFile(path: string): unknown {
  return readJson(path, 'VQAv2 file');
}

function check(r: VqaRecord, needAnswers: boolean, scope: ImageScope): VqaRecord {
  if (!r.question.trim()) throw new DataError(`${r.where}: empty question`);
  if (needAnswers && r.answers.length === 0) throw new DataError(`${r.where}: no answers`);
  checkImage(r.image, r.where, scope);
  return r;
}

/** A JSONL file: {"image": "cells/1.png", "question": "...", "answers": ["3", "3", "three"]} per line. */
export function readJsonl(path: string, needAnswers = true, allowOutside = false): VqaRecord[] {
  const text = readText(path, 'JSONL file');
  const base = dirname(resolve(path));
  const out: VqaRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${path}:${i + 1}`;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new DataError(`${where}: not a JSON object (${(e as Error).message})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new DataError(`${where}: not a JSON object`);
    if (typeof o.image !== 'string') throw new DataError(`${where}: "image" must be a file path (relative to ${base})`);
    if (typeof o.question !== 'string') throw new DataError(`${where}: "question" must be a string`);
    const a = o.answers ?? [];
    const answers =
      typeof a === 'string' ? [a] : Array.isArray(a) && a.every((x) => typeof x === 'string') ? (a as string[]) : null;
    if (!answers) throw new DataError(`${where}: "answers" must be a string or a list of strings`);
    out.push(
      check({ image: resolve(base, o.image), question: o.question, answers, where }, needAnswers, {
        root: base,
        allowOutside,
      }),
    );
  });
  if (out.length === 0) throw new DataError(`${path}: no records`);
  return out;
}

/**
 * The VQAv2 layout: `questions` ({questions: [{image_id, question, question_id}], data_subtype}),
 * `annotations` ({annotations: [{question_id, answers: [{answer}]}]}, absent for test splits)
 * and `images`, a folder of COCO_<subtype>_<12-digit id>.jpg (or <12-digit id>.jpg) files.
 */
export function readVqaV2(
  questions: string,
  annotations: string | null,
  images: string,
  allowOutside = false,
): VqaRecord[] {
  const q = readJsonFile(questions) as { questions?: unknown[]; data_subtype?: unknown };
  if (!Array.isArray(q.questions))
    throw new DataError(`${questions}: no "questions" list (is it a VQAv2 questions file?)`);
  const answersOf = new Map<number, string[]>();
  if (annotations) {
    const a = readJsonFile(annotations) as { annotations?: unknown[] };
    if (!Array.isArray(a.annotations))
      throw new DataError(`${annotations}: no "annotations" list (is it a VQAv2 annotations file?)`);
    a.annotations.forEach((x, i) => {
      const ann = x as { question_id?: unknown; answers?: unknown };
      if (typeof x !== 'object' || x === null || !Number.isInteger(ann.question_id))
        throw new DataError(`${annotations}: annotation ${i} is not an object with an integer "question_id"`);
      const where = `${annotations}#${ann.question_id}`;
      if (answersOf.has(ann.question_id as number)) throw new DataError(`${where}: question id annotated twice`);
      if (!Array.isArray(ann.answers)) throw new DataError(`${where}: "answers" must be a list of {"answer": "..."}`);
      // A null or missing answer is an error, never the class "null" or "undefined".
      const answers = ann.answers.map((y, j) => {
        const v = (y as { answer?: unknown } | null)?.answer;
        if (typeof v !== 'string')
          throw new DataError(
            `${where}: answer ${j} is ${v === undefined ? 'missing' : JSON.stringify(v)}, not a string`,
          );
        return v;
      });
      answersOf.set(ann.question_id as number, answers);
    });
  }
  const subtype = typeof q.data_subtype === 'string' ? q.data_subtype : '';
  const seen = new Set<number>();
  return q.questions.map((raw, i) => {
    const x = raw as { image_id?: unknown; question?: unknown; question_id?: unknown };
    if (typeof raw !== 'object' || raw === null || !Number.isInteger(x.question_id))
      throw new DataError(`${questions}: question ${i} is not an object with an integer "question_id"`);
    const qid = x.question_id as number;
    const where = `${questions}#${qid}`;
    if (seen.has(qid)) throw new DataError(`${where}: question id given twice`);
    seen.add(qid);
    if (!Number.isInteger(x.image_id) || (x.image_id as number) < 0)
      throw new DataError(`${where}: "image_id" must be a non-negative integer`);
    if (typeof x.question !== 'string') throw new DataError(`${where}: "question" must be a string`);
    const id = String(x.image_id).padStart(12, '0');
    const candidates = [join(images, `COCO_${subtype}_${id}.jpg`), join(images, `${id}.jpg`)];
    const image = candidates.find((c) => existsSync(c)) ?? candidates[0];
    const answers = answersOf.get(qid) ?? [];
    if (annotations && !answersOf.has(qid)) throw new DataError(`${where}: no annotation in ${annotations}`);
    return check({ image: resolve(image), question: x.question, answers, where }, !!annotations, {
      root: images,
      allowOutside,
    });
  });
}

/**
 * Whether a split's records carry answers: all do (scored), none do (unlabeled: predicted, never
 * scored against zeros), or some do not, which is an error naming the first.
 */
export function labeled(records: VqaRecord[], split: string): boolean {
  const without = records.filter((r) => r.answers.length === 0);
  if (without.length === 0) return true;
  if (without.length === records.length) return false;
  throw new DataError(
    `${without[0].where}: no answers, while ${records.length - without.length} other ${split} records have some; a split is scored whole or not at all`,
  );
}

/**
 * Records from a path: a .jsonl file, or a directory holding one split's `<split>.jsonl`, or
 * VQAv2 files (*questions*.json, *annotations*.json, and the images folder `images/` or the
 * one other folder there).
 */
export function readVqa(path: string, split = 'train', allowOutside = false): VqaRecord[] {
  if (!existsSync(path)) throw new DataError(`${path}: no such file or directory`);
  if (!statSync(path).isDirectory()) return readJsonl(path, split !== 'test', allowOutside);
  const files = readdirSync(path);
  if (files.includes(`${split}.jsonl`)) return readJsonl(join(path, `${split}.jsonl`), split !== 'test', allowOutside);
  const questions = files.filter((f) => /questions.*\.json$/.test(f));
  const annotations = files.filter((f) => /annotations.*\.json$/.test(f));
  const folders = files.filter((f) => statSync(join(path, f)).isDirectory());
  const images = folders.includes('images') ? 'images' : folders.length === 1 ? folders[0] : null;
  if (questions.length === 1 && images)
    return readVqaV2(
      join(path, questions[0]),
      annotations.length === 1 ? join(path, annotations[0]) : null,
      join(path, images),
      allowOutside,
    );
  throw new DataError(
    `${path}: expected ${split}.jsonl, or one VQAv2 *questions*.json (+ *annotations*.json) with an images folder; found: ${files.join(', ') || 'nothing'}`,
  );
}

/** METHODS.md's draw: k training records (VQA questions, or caption files' images) and a disjoint dev set of k more, by seed. */
export function kShot<R>(records: R[], k: number, seed: number): { train: R[]; dev: R[] } {
  if (!Number.isInteger(k) || k < 1) throw new DataError(`k must be a positive integer, got ${k}`);
  if (2 * k > records.length)
    throw new DataError(`k = ${k} needs ${2 * k} records (k to train, k for dev), the pool has ${records.length}`);
  const order = shuffled(records.length, seed);
  return { train: order.slice(0, k).map((i) => records[i]), dev: order.slice(k, 2 * k).map((i) => records[i]) };
}

export interface Encoders {
  tokenizer: TextTokenizer;
  processor: ImageProcessor;
  vocab: AnswerVocab;
  maxLen: number;
}

/** A record's image as the model takes it; a failure names the record. */
export async function recordImage(r: VqaRecord, processor: ImageProcessor): Promise<Float32Array> {
  try {
    return await processor.load(r.image);
  } catch (err) {
    throw new DataError(`${r.where}: ${(err as Error).message}`);
  }
}

/** The model's inputs for each record: image [C, H, W], tokens and mask [maxLen], soft targets [answers]. */
export async function toDataset(records: VqaRecord[], e: Encoders): Promise<Dataset & { outOfVocab: number }> {
  const examples: Example[] = [];
  let outOfVocab = 0;
  for (const r of records) {
    const { ids, mask } = e.tokenizer.encode(r.question, e.maxLen);
    const image = await recordImage(r, e.processor);
    const targets = e.vocab.softTargets(r.answers);
    if (r.answers.length && targets.every((t) => t === 0)) outOfVocab++;
    examples.push({ image, tokens: ids, mask, targets });
  }
  return { examples, outOfVocab };
}
