/** A benchmark set as a model of each flavor (model.ts Flavor) reads it. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextTokenizer } from '../../src/data/tokenizer.ts';
import type { MnistVqaSet } from './mnist-vqa.ts';
import type { Flavor } from './model.ts';
import { retokenize, writeTokenizer } from './text.ts';
import { asT5 } from './t5.ts';

let shipped: TextTokenizer | null = null;

/**
 * native models read word ids (as made); hf models the tokens of the WordPiece tokenizer.json
 * their export ships (written once per process); t5 the encoder-decoder's inputs and targets.
 */
export function asFlavor<T extends MnistVqaSet>(set: T, f: Flavor): T {
  if (f === 'native') return set;
  if (f === 't5') return asT5(set) as T;
  if (!shipped) {
    const dir = mkdtempSync(join(tmpdir(), 'mnist-vqa-tok-'));
    writeTokenizer(dir);
    shipped = TextTokenizer.fromDir(dir);
  }
  return retokenize(set, shipped);
}
