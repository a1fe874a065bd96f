/**
 * `hf.vision(dir)` and `hf.text(dir)`: the front-end step that reads an HF-layout directory's
 * config.json (as save_pretrained writes it) into a tower spec. The architecture comes from the
 * config now, the weights at train/eval time. vision: ViT, CLIP (vision tower); text: BERT,
 * RoBERTa (encoders), GPT-2 (decoder), T5. The DSL itself reads no files.
 */
import { textFromDir, visionFromDir, type TextOptions } from './config.ts';

export const hf = {
  vision: (dir: string) => visionFromDir(dir),
  text: (dir: string, o: TextOptions = {}) => textFromDir(dir, o),
};
