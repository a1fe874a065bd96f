/**
 * MNIST-grid captions (issue 35, part 3; `npm run example:caption`): three templated phrasings of
 * a scene's digits in reading order, over a word-level vocabulary. The example's GPT-2-style
 * decoder (examples/mnist-vqa/gpt2) and the benchmark's (pretrain.ts captext) read these words.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Scene } from './mnist-vqa.ts';
import { addedToken } from './text.ts';

const POSITIONS = ['top left', 'top right', 'bottom left', 'bottom right'];
const NUMBERS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
export const CAPTION_SPECIALS = ['<pad>', '</s>', '<unk>'];
export const CAPTION_WORDS = [
  ...CAPTION_SPECIALS,
  ...NUMBERS,
  ...['at', 'the', 'top', 'bottom', 'left', 'right', 'and', 'a', 'an', 'digit', 'digits', 'empty', 'grid', 'with'],
];
/** The decoder's sequence length: the longest caption (four digits with positions) is 21 words and </s>. */
export const CAPTION_LEN = 24;

/** Three phrasings of a scene's digits in reading order (top left, top right, bottom left, bottom right). */
export function captionsOf(scene: Scene): string[] {
  const held = scene.cells.map((d, i) => ({ d, pos: POSITIONS[i] })).filter((c) => c.d >= 0);
  if (!held.length) return ['an empty grid', 'a grid with zero digits', 'zero digits'];
  const words = held.map((c) => NUMBERS[c.d]);
  const list = (xs: string[]) => (xs.length === 1 ? xs[0] : `${xs.slice(0, -1).join(' ')} and ${xs.at(-1)}`);
  return [
    list(held.map((c) => `${NUMBERS[c.d]} at the ${c.pos}`)),
    list(words.map((w) => `a ${w}`)),
    `${NUMBERS[held.length]} ${held.length === 1 ? 'digit' : 'digits'} ${list(words)}`,
  ];
}

/** A caption's word ids, then </s>, padded to CAPTION_LEN (an LM's next-token targets). */
export function captionIds(caption: string): { tokens: Int32Array; mask: Float32Array } {
  const ids = caption.split(' ').map((w) => {
    const i = CAPTION_WORDS.indexOf(w);
    if (i < CAPTION_SPECIALS.length) throw new Error(`captions: '${w}' is not a caption word`);
    return i;
  });
  ids.push(CAPTION_WORDS.indexOf('</s>'));
  if (ids.length > CAPTION_LEN) throw new Error(`captions: '${caption}' is longer than ${CAPTION_LEN - 1} words`);
  const tokens = new Int32Array(CAPTION_LEN);
  tokens.set(ids);
  return { tokens, mask: Float32Array.from({ length: CAPTION_LEN }, (_, j) => (j < ids.length ? 1 : 0)) };
}

/** A word-level tokenizer.json over CAPTION_WORDS in `dir`, with `</s>` ending a sequence and `<pad>` padding it. */
export function writeCaptionTokenizer(dir: string): void {
  const vocab = Object.fromEntries(CAPTION_WORDS.map((w, i) => [w, i]));
  const added = CAPTION_SPECIALS.map((content, id) => addedToken(content, id));
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json, null, 1));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify(
      { eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>', model_max_length: CAPTION_LEN },
      null,
      1,
    ),
  );
}

let tokenizerDir: string | undefined;

/** A directory holding the caption tokenizer (written once per process): what a caption model's spec names in `.inputs()`. */
export function captionTokenizerDir(): string {
  if (!tokenizerDir) {
    tokenizerDir = mkdtempSync(join(tmpdir(), 'mnist-captions-tok-'));
    writeCaptionTokenizer(tokenizerDir);
  }
  return tokenizerDir;
}
