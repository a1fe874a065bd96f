/**
 * The tokenizer and image processor a spec's raw inputs go through: the directories its
 * `inputs` names, else its towers' pretrained directories (an HF checkpoint directory holds
 * tokenizer.json and preprocessor_config.json next to its weights).
 */
import type { ModelSpec } from '../dsl/spec.ts';
import { DataError } from './errors.ts';
import { ImageProcessor } from './image.ts';
import { TextTokenizer } from './tokenizer.ts';

export function tokenizerFor(spec: ModelSpec): TextTokenizer {
  const dir = spec.inputs.tokenizer ?? spec.text?.pretrained?.dir;
  if (!spec.text) throw new DataError('the spec has no text tower to tokenize questions for');
  if (!dir)
    throw new DataError(
      'the spec names no tokenizer: build the text tower with hf.text(dir), or add .inputs({ tokenizer: dir }) with a tokenizer.json there',
    );
  const tok = TextTokenizer.fromDir(dir);
  if (tok.maxId >= spec.text.vocab)
    throw new DataError(
      `${tok.source}: emits ids up to ${tok.maxId}, but the text tower's vocabulary has ${spec.text.vocab} rows`,
    );
  return tok;
}

export function processorFor(spec: ModelSpec): ImageProcessor {
  if (!spec.vision) throw new DataError('the spec has no vision tower to preprocess images for');
  const dir = spec.inputs.processor ?? spec.vision.pretrained?.dir;
  const { channels, image } = spec.vision;
  return dir ? ImageProcessor.fromDir(dir, channels, image) : ImageProcessor.defaults(channels, image);
}
