/**
 * VQA files straight to training data, for `peftgraph train --data <file.jsonl | dir>`: records
 * read, the k-shot draw (METHODS.md) when asked, the answer vocabulary from the whole training
 * pool, and tensors through the spec's tokenizer and image processor, with a report of what was
 * truncated or has no answer class.
 */
import { inputsIdentity, type InputsIdentity } from '../train/identity.ts';
import { AnswerVocab, isPlaceholderAnswer, readAnswerList } from '../data/answers.ts';
import { processorFor, tokenizerFor } from '../data/encoders.ts';
import { DataError } from '../data/errors.ts';
import { kShot, labeled, readVqa, toDataset, type VqaRecord } from '../data/vqa.ts';
import { toGeneratedVqaDataset, type GeneratedVqaEncoders } from '../data/vqa-generated.ts';
import { parseSpec, type ModelSpec } from '../dsl/spec.ts';
import type { Dataset } from '../runtime/batches.ts';
import { closeSync, existsSync, readdirSync, readSync, statSync } from 'node:fs';
import { openRegular } from '../runtime/files.ts';
import { dirname, join } from 'node:path';

export interface VqaDataOptions {
  data: string;
  dev?: string;
  test?: string;
  /** Draw k training and k dev records from the training pool with the seed. */
  k?: number;
  seed: number;
  /** Let records name images outside their data directory (--allow-outside-data). */
  allowOutside?: boolean;
}

export interface VqaData {
  train: Dataset;
  dev?: Dataset;
  test?: Dataset;
  /** The answer classes of a classifier head (none, size 0, for an encoder-decoder, which writes its answers). */
  vocab: AnswerVocab;
  report: string[];
  /** The test records, in the test set's order (questions and answers to show beside predictions). */
  testRecords?: VqaRecord[];
  /** The answer classes, tokenizer and processor that made the tensors: a run records them. */
  inputs: InputsIdentity;
}

/** A data argument names VQA files (rather than a data module) when it is .jsonl or a directory. */
export function isVqaData(path: string): boolean {
  return path.endsWith('.jsonl') || (existsSync(path) && statSync(path).isDirectory());
}

/**
 * Whether VQA files hold questions (rather than captions), for the split asked: a VQAv2
 * questions file in the directory, or a first JSONL record (`<split>.jsonl` in a directory) with
 * a "question". An encoder-decoder's 'lm' head reads both kinds; a directory that holds both a
 * VQAv2 questions file and a COCO or Karpathy captions file is an error naming them.
 */
export function holdsQuestions(path: string, split = 'train'): boolean {
  if (!existsSync(path)) return false;
  const dir = statSync(path).isDirectory();
  if (dir) {
    const files = readdirSync(path);
    const questions = files.filter((f) => /questions.*\.json$/.test(f));
    const captions = files.filter((f) => /^(captions_.*|dataset_.*)\.json$/.test(f));
    if (questions.length && captions.length)
      throw new DataError(
        `${path}: holds VQA questions (${questions.join(', ')}) and captions (${captions.join(', ')}); put each in its own directory`,
      );
    if (questions.length) return true;
  }
  const file = dir ? join(path, `${split}.jsonl`) : path;
  if (!file.endsWith('.jsonl') || !existsSync(file)) return false;
  // The first record is enough: read the file's head only (a VQA JSONL file can be large).
  const first = firstLine(file);
  try {
    return first !== undefined && 'question' in (JSON.parse(first) as object);
  } catch {
    return false;
  }
}

/** The first non-empty line within a file's first 64 KiB. */
function firstLine(file: string): string | undefined {
  const fd = openRegular(file, 'records');
  try {
    const head = Buffer.alloc(1 << 16);
    const n = readSync(fd, head, 0, head.length, 0);
    return head
      .subarray(0, n)
      .toString('utf8')
      .split('\n')
      .find((l) => l.trim());
  } finally {
    closeSync(fd);
  }
}

/** A split next to the training data: dev.jsonl / test.jsonl in its directory, if present. */
export function sibling(data: string, split: string): string | undefined {
  if (!existsSync(data)) return undefined;
  // A directory holds <split>.jsonl; a file (train.jsonl) has its splits beside it.
  const dir = statSync(data).isDirectory() ? data : dirname(data);
  const file = join(dir, `${split}.jsonl`);
  return existsSync(file) && file !== data ? (dir === data ? data : file) : undefined;
}

export async function loadVqaData(input: ModelSpec, o: VqaDataOptions): Promise<VqaData> {
  // A library entry point: checked as train() checks it (a builder passed for its spec is named).
  const spec = parseSpec(input);
  const generated = writesAnswers(spec);
  if (spec.head.kind !== 'classifier' && !generated)
    throw new DataError(
      `VQA files train a classifier head, or an encoder-decoder's 'lm' head (T5) that writes its answers; this spec's head is '${spec.head.kind}' over a '${spec.text?.kind}' text tower`,
    );
  const read = (path: string, split: string) => readVqa(path, split, o.allowOutside);
  const pool = read(o.data, 'train');
  // Training records without answers would train on nothing (empty targets): refused, naming the fix.
  if (!labeled(pool, 'train'))
    throw new DataError(
      `${o.data}: the training records have no answers (a VQAv2 directory needs its *annotations*.json beside the questions)`,
    );
  let train: VqaRecord[] = pool;
  let dev: VqaRecord[] | undefined;
  if (o.k !== undefined) {
    // METHODS.md: the dev set is k more records of the training pool (a dev.jsonl beside it is not used).
    if (o.dev) throw new DataError('--k draws the dev set from the training pool (METHODS.md); drop --dev or --k');
    ({ train, dev } = kShot(pool, o.k, o.seed));
  } else {
    const devPath = o.dev ?? sibling(o.data, 'dev');
    dev = devPath ? read(devPath, 'dev') : undefined;
  }
  const testPath = o.test ?? sibling(o.data, 'test');
  const testAll = testPath ? read(testPath, 'test') : undefined;
  // A test split without answers is not scored (zeros would read as wrong answers): predict it instead.
  const test = testAll && labeled(testAll, 'test') ? testAll : undefined;
  if (generated) return generatedVqaData(spec, { train, dev, test, testAll, pool, o });
  const answers = (spec.head as { answers: number }).answers;
  // The answer classes come from the whole pool, as VQA answer vocabularies do, not from a k-shot draw.
  const padded = AnswerVocab.fromAnswers(
    pool.map((r) => r.answers),
    answers,
    { pad: true },
  );
  const real = padded.answers.filter((a) => !isPlaceholderAnswer(a)).length;
  const report = [
    `answers: ${real} classes from ${pool.length} training records${real < answers ? ` (the head has ${answers}; ${answers - real === 1 ? 'the other one never occurs, and predict never offers it' : `the other ${answers - real} never occur, and predict never offers them`})` : ''}`,
  ];
  const tokenizer = tokenizerFor(spec);
  const processor = processorFor(spec);
  const maxLen = spec.text!.maxLen;
  const sets: Record<string, Dataset> = {};
  for (const [name, records] of Object.entries({ train, dev, test })) {
    if (!records) continue;
    const before = tokenizer.counts.truncated;
    const ds = await toDataset(records, { tokenizer, processor, vocab: padded, maxLen });
    const cut = tokenizer.counts.truncated - before;
    report.push(
      `${name}: ${records.length} records${cut ? `, ${cut} questions truncated to ${maxLen} tokens` : ''}${ds.outOfVocab ? `, ${ds.outOfVocab} with no answer among the classes (target all zero)` : ''}`,
    );
    sets[name] = ds;
  }
  if (testAll && !test)
    report.push(`test: ${testAll.length} records without answers: not scored (peftgraph predict answers them)`);
  if (!dev && o.k === undefined)
    report.push(
      `dev: none (no dev.jsonl beside ${o.data}, and no --dev): no dev selection, the last epoch's weights are kept`,
    );
  if (!testAll) report.push(`test: none (no test.jsonl beside ${o.data}, and no --test)`);
  report.push(`inputs: questions by ${tokenizer.source}, images by ${processor.source}`);
  return {
    train: sets.train,
    dev: sets.dev,
    test: sets.test,
    vocab: padded,
    report,
    testRecords: test,
    inputs: inputsIdentity({ answers: padded.answers, tokenizer, processor }),
  };
}

/**
 * VQA files for an encoder-decoder that writes its answers (data/vqa-generated.ts): the same
 * splits as a classifier's, no answer classes, each split's annotator answers kept to score the
 * generated text against.
 */
async function generatedVqaData(
  spec: ModelSpec,
  s: {
    train: VqaRecord[];
    dev?: VqaRecord[];
    test?: VqaRecord[];
    testAll?: VqaRecord[];
    pool: VqaRecord[];
    o: VqaDataOptions;
  },
): Promise<VqaData> {
  const e = generatedEncoders(spec);
  const { tokenizer, processor, maxLen, targetLen } = e;
  const report = [
    `answers: written by the decoder (open vocabulary, at most ${targetLen - 1} tokens); each question's target is its most given answer`,
  ];
  const sets: Record<string, Dataset> = {};
  for (const [name, records] of Object.entries({ train: s.train, dev: s.dev, test: s.test })) {
    if (!records) continue;
    const before = tokenizer.counts.truncated;
    const ds = await toGeneratedVqaDataset(records, e);
    const cut = tokenizer.counts.truncated - before - ds.truncated;
    report.push(
      `${name}: ${records.length} records${cut > 0 ? `, ${cut} questions truncated to ${maxLen} tokens` : ''}${ds.truncated ? `, ${ds.truncated} target answers cut to ${targetLen} tokens` : ''}`,
    );
    sets[name] = ds;
  }
  if (s.testAll && !s.test)
    report.push(`test: ${s.testAll.length} records without answers: not scored (peftgraph predict answers them)`);
  if (!s.testAll) report.push(`test: none (no test.jsonl beside ${s.o.data}, and no --test)`);
  report.push(`inputs: questions and answers by ${tokenizer.source}, images by ${processor.source}`);
  return {
    train: sets.train,
    dev: sets.dev,
    test: sets.test,
    vocab: new AnswerVocab([]),
    report,
    inputs: inputsIdentity({ tokenizer, processor }),
  };
}

/** One split of VQA files for evaluation, scored against the answer classes a training run wrote. */
export async function loadVqaSplit(
  spec: ModelSpec,
  path: string,
  split: string,
  answers: string[],
  allowOutside = false,
): Promise<Dataset> {
  if (spec.head.kind !== 'classifier' || answers.length !== spec.head.answers)
    throw new DataError(
      `the answer list has ${answers.length} answers; the spec's head needs ${spec.head.kind === 'classifier' ? spec.head.answers : 'a classifier'}`,
    );
  return toDataset(scoredRecords(path, split, allowOutside), {
    tokenizer: tokenizerFor(spec),
    processor: processorFor(spec),
    vocab: new AnswerVocab(answers),
    maxLen: spec.text!.maxLen,
  });
}

/** One split of VQA files for evaluating an encoder-decoder that writes its answers (scored on the decoded text). */
export async function loadGeneratedVqaSplit(
  spec: ModelSpec,
  path: string,
  split: string,
  allowOutside = false,
): Promise<Dataset> {
  return toGeneratedVqaDataset(scoredRecords(path, split, allowOutside), generatedEncoders(spec));
}

/** A split's records, which must carry answers to be scored. */
function scoredRecords(path: string, split: string, allowOutside: boolean): VqaRecord[] {
  const records = readVqa(path, split, allowOutside);
  if (!labeled(records, split))
    throw new DataError(
      `${path}: the ${split} records have no answers to score against (peftgraph predict answers them)`,
    );
  return records;
}

/** Whether `spec` writes its answers (an encoder-decoder's 'lm' head) rather than choosing a class. */
export function writesAnswers(spec: ModelSpec): boolean {
  return spec.head.kind === 'lm' && spec.text?.kind === 'encdec';
}

/** The tokenizer, processor and lengths an encoder-decoder's VQA examples are made with. */
function generatedEncoders(spec: ModelSpec): GeneratedVqaEncoders {
  const text = spec.text as { maxLen: number; targetLen: number };
  return {
    tokenizer: tokenizerFor(spec),
    processor: processorFor(spec),
    maxLen: text.maxLen,
    targetLen: text.targetLen,
  };
}

/** The answer classes a training run wrote beside its checkpoints (or `path`), checked against the head. */
export function readAnswers(spec: ModelSpec, checkpoint: string, path?: string): string[] {
  const file = path ?? join(dirname(checkpoint), 'answers.json');
  if (!existsSync(file))
    throw new DataError(
      `${file}: no answer list (train writes answers.json beside its checkpoints; or pass --answers)`,
    );
  return readAnswerList(file, spec.head.kind === 'classifier' ? spec.head.answers : 0);
}
