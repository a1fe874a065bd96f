/**
 * `hf.vision(dir)` and `hf.text(dir)`: the front-end step that reads an HF-layout directory's
 * config.json (as save_pretrained writes it) into a tower spec. The architecture comes from the
 * config now, the weights at train/eval time. vision: ViT, CLIP (vision tower); text: BERT,
 * RoBERTa (encoders), GPT-2 (decoder), T5. The DSL itself reads no files.
 */
import { z } from 'zod';
import { parsePart, SpecError } from '../dsl/parse.ts';
import { textFromDir, visionFromDir, type TextOptions } from './config.ts';

/** The options hf.text() takes: anything else is refused by name, never dropped. */
const TextOptionsSchema = z.strictObject({
  maxLen: z.number().int().positive().max(8192).optional(),
  targetLen: z.number().int().positive().max(8192).optional(),
});

export const hf = {
  vision: (dir: string, ...rest: unknown[]) => {
    if (rest.length)
      throw new SpecError(
        `hf.vision('${dir}', ...) takes only the directory: the image size and patch come from its config.json and preprocessor_config.json`,
      );
    return visionFromDir(dir);
  },
  text: (dir: string, o: TextOptions = {}) => textFromDir(dir, parsePart(TextOptionsSchema, o, 'hf.text')),
};
