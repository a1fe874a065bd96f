/**
 * VQA records for an encoder-decoder that writes its answers (T5, VL-T5 style): the image and
 * the question go to the encoder; the decoder's target is the answer the annotators gave most
 * (normalized as the VQA evaluation does), ending in end-of-sequence; evaluation scores the
 * decoded text of a greedy generation against all annotator answers (Dataset.answerTexts), so
 * no answer vocabulary limits what it may say.
 */
import type { Dataset, Example } from '../runtime/batches.ts';
import { mostGiven, normalizeAnswer } from './answers.ts';
import { captionTokens, decoderTargets } from './caption-dataset.ts';
import type { ImageProcessor } from './image.ts';
import type { TextTokenizer } from './tokenizer.ts';
import { recordImage, type VqaRecord } from './vqa.ts';

export interface GeneratedVqaEncoders {
  tokenizer: TextTokenizer;
  processor: ImageProcessor;
  /** The encoder's question tokens. */
  maxLen: number;
  /** The decoder's answer positions (the answer's tokens and end-of-sequence). */
  targetLen: number;
}

/** The records' tensors, their annotator answers, and how many target answers did not fit `targetLen`. */
export async function toGeneratedVqaDataset(
  records: VqaRecord[],
  e: GeneratedVqaEncoders,
): Promise<Dataset & { truncated: number }> {
  const examples: Example[] = [];
  let truncated = 0;
  for (const r of records) {
    const { ids, mask } = e.tokenizer.encode(r.question, e.maxLen);
    const image = await recordImage(r, e.processor);
    // A test record without answers still gets a target (the empty answer): it is never scored.
    const answer = r.answers.length ? mostGiven(r.answers.map(normalizeAnswer)) : '';
    const t = captionTokens(e.tokenizer, answer, e.targetLen);
    if (t.truncated) truncated++;
    examples.push({ image, tokens: ids, mask, ...decoderTargets(t, e.tokenizer.padId, e.tokenizer.padId) });
  }
  return { examples, answerTexts: records.map((r) => r.answers), truncated };
}
