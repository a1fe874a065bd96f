/**
 * Caption files straight to training data, for `peftgraph train --data <file.jsonl | dir>` with
 * a captioning LM (ViT + GPT-2, or an encoder-decoder such as VL-T5): records read in any of the caption layouts (data/captions.ts),
 * training pairs one per caption, dev and test one per image with its references, and a report.
 */
import { type CaptionRecord, type CaptionSplit, readCaptions } from '../data/captions.ts';
import { type CaptionEncoders, toCaptionDataset } from '../data/caption-dataset.ts';
import { processorFor, tokenizerFor } from '../data/encoders.ts';
import { DataError } from '../data/errors.ts';
import { kShot } from '../data/vqa.ts';
import { parseSpec, type ModelSpec } from '../dsl/spec.ts';
import type { Dataset } from '../runtime/batches.ts';
import { inputsIdentity, type InputsIdentity } from '../train/identity.ts';
import { existsSync, statSync } from 'node:fs';
import { sibling } from './vqa-data.ts';

export interface CaptionDataOptions {
  data: string;
  dev?: string;
  test?: string;
  /** Let records name images outside their data directory (--allow-outside-data). */
  allowOutside?: boolean;
  /** Draw k training images and k dev images from the training pool with the seed (METHODS.md, k-shot in images). */
  k?: number;
  seed?: number;
}

export interface CaptionData {
  train: Dataset;
  dev?: Dataset;
  test?: Dataset;
  report: string[];
  /** The test images with their references, in order (to show beside generated captions). */
  testRecords?: CaptionRecord[];
  /** The tokenizer and processor that made the tensors: a run records them. */
  inputs: InputsIdentity;
}

/** Whether a spec reads caption files (an LM head over a decoder or an encoder-decoder) rather than VQA files. */
export function readsCaptions(spec: ModelSpec): boolean {
  return spec.head.kind === 'lm' && (spec.text?.kind === 'decoder' || spec.text?.kind === 'encdec');
}

/**
 * The tokenizer and processor of `spec`, and where its caption goes: a decoder LM's text, or an
 * encoder-decoder's target (its decoder starting from the pad id, as T5's decoder_start_token_id).
 */
export function captionEncoders(spec: ModelSpec): CaptionEncoders {
  const text = spec.text!;
  const tokenizer = tokenizerFor(spec);
  const decoder = text.kind === 'encdec' ? { targetLen: text.targetLen, start: tokenizer.padId } : undefined;
  return { tokenizer, processor: processorFor(spec), maxLen: text.maxLen, decoder };
}

/** The records of `split` from a file, or from the data directory when it holds that split. */
function splitOf(o: CaptionDataOptions, split: CaptionSplit, given?: string): CaptionRecord[] | undefined {
  if (given) return readCaptions(given, split, o.allowOutside);
  if (!statSync(o.data).isDirectory()) {
    const file = sibling(o.data, split);
    return file ? readCaptions(file, split, o.allowOutside) : undefined;
  }
  try {
    return readCaptions(o.data, split, o.allowOutside);
  } catch (e) {
    // A directory of one COCO captions file is one split: no dev or test beside it.
    if (e instanceof DataError && /expected|no images in split/.test(e.message)) return undefined;
    throw e;
  }
}

export async function loadCaptionData(input: ModelSpec, o: CaptionDataOptions): Promise<CaptionData> {
  const spec = parseSpec(input);
  if (!readsCaptions(spec) || spec.visualPrefix === 'none')
    throw new DataError(
      `caption files train an LM with a visual prefix (vl.lm() head, hf.text() of a GPT-2 or T5 directory, visualPrefix 'pooled'); this spec's ${spec.head.kind === 'lm' ? `visualPrefix is '${spec.visualPrefix}'` : `head is '${spec.head.kind}'`}`,
    );
  if (!existsSync(o.data)) throw new DataError(`${o.data}: no such file or directory`);
  const pool = readCaptions(o.data, 'train', o.allowOutside);
  let train = pool;
  let dev: CaptionRecord[] | undefined;
  if (o.k !== undefined) {
    // METHODS.md, k-shot in images: k images (with all their captions) to train, k more for dev, from the pool.
    if (o.dev) throw new DataError('--k draws the dev set from the training images (METHODS.md); drop --dev or --k');
    ({ train, dev } = kShot(pool, o.k, o.seed ?? 0));
  } else dev = splitOf(o, 'dev', o.dev);
  const test = splitOf(o, 'test', o.test);
  const e = captionEncoders(spec);
  const { tokenizer, processor } = e;
  const captionLen = e.decoder?.targetLen ?? e.maxLen;
  const report: string[] =
    o.k === undefined
      ? []
      : [
          `k-shot: ${o.k} training images and ${o.k} dev images drawn from the ${pool.length} images of ${o.data} (seed ${o.seed ?? 0})`,
        ];
  const sets: Record<string, Dataset> = {};
  for (const [name, records] of Object.entries({ train, dev, test })) {
    if (!records) continue;
    const ds = await toCaptionDataset(records, e, name === 'train' ? 'train' : 'eval');
    const captions = records.reduce((n, r) => n + r.captions.length, 0);
    const per =
      name === 'train' ? `${ds.examples.length} examples, one per caption` : `scored against all ${captions} captions`;
    const cut = ds.truncated ? `, ${ds.truncated} captions cut to ${captionLen - 1} tokens and end-of-sequence` : '';
    report.push(`${name}: ${records.length} images, ${captions} captions (${per})${cut}`);
    sets[name] = ds;
  }
  if (!dev)
    report.push(`dev: none beside ${o.data} (and no --dev): no dev selection, the last epoch's weights are kept`);
  if (!test) report.push(`test: none beside ${o.data} (and no --test)`);
  report.push(`inputs: captions by ${tokenizer.source}, images by ${processor.source}`);
  return {
    train: sets.train,
    dev: sets.dev,
    test: sets.test,
    report,
    testRecords: test,
    inputs: inputsIdentity({ tokenizer, processor }),
  };
}
