/**
 * MNIST-VQA questions as text, and a BERT-style WordPiece tokenizer.json for them, so the
 * HF-family models (model.ts, flavor 'hf') read questions through a real tokenizer: the same
 * file ships with their HF-layout export and `peftgraph train --data` tokenizes with it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TextTokenizer } from '../../src/data/tokenizer.ts';
import type { Dataset } from '../../src/runtime/batches.ts';
import type { Question } from './mnist-vqa.ts';

/** "what digit is at the top-left?": digit words (d3) written as digits, '?' attached. */
export function questionText(q: Question): string {
  return q.words
    .map((w) => (/^d\d$/.test(w) ? w.slice(1) : w))
    .join(' ')
    .replace(/ \?$/, '?');
}

/** Tokens a BERT pre-tokenizer makes of every question (punctuation split off: top - left). */
const PIECES = [
  'what',
  'digit',
  'is',
  'at',
  'the',
  'top',
  '-',
  'left',
  'right',
  'bottom',
  '?',
  'there',
  'a',
  'how',
  'many',
  'digits',
  'are',
  'sum',
  'of',
  'two',
  'larger',
  'than',
  'which',
  'position',
  'holds',
  'largest',
  'all',
  'even',
  ...'0123456789',
];
const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
export const TOKENIZER_VOCAB = [...SPECIALS, ...PIECES];
/** Tokens per question: the longest is 13 pieces + [CLS] + [SEP]. */
export const TEXT_LEN = 16;

/** A tokenizer.json special token (the HF layout every benchmark tokenizer writes). */
export const addedToken = (content: string, id: number) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

/** tokenizer.json + tokenizer_config.json, laid out as bert-base-uncased's. */
export function writeTokenizer(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const vocab = Object.fromEntries(TOKENIZER_VOCAB.map((t, i) => [t, i]));
  const tpl = (s: string) => ({ SpecialToken: { id: s, type_id: 0 } });
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((s, i) => addedToken(s, i)),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [tpl('[CLS]'), { Sequence: { id: 'A', type_id: 0 } }, tpl('[SEP]')],
      pair: [
        tpl('[CLS]'),
        { Sequence: { id: 'A', type_id: 0 } },
        tpl('[SEP]'),
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json, null, 1));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify(
      {
        tokenizer_class: 'BertTokenizerFast',
        do_lower_case: true,
        pad_token: '[PAD]',
        unk_token: '[UNK]',
        cls_token: '[CLS]',
        sep_token: '[SEP]',
        mask_token: '[MASK]',
        model_max_length: TEXT_LEN,
      },
      null,
      1,
    ),
  );
}

/** The set's examples with tokens and mask made by the tokenizer from each question's text. */
export function retokenize<T extends Dataset>(set: T & { questions: Question[] }, tok: TextTokenizer): T {
  set.examples.forEach((e, i) => {
    const { ids, mask } = tok.encode(questionText(set.questions[i]), TEXT_LEN);
    e.tokens = ids;
    e.mask = mask;
  });
  if (tok.counts.truncated)
    throw new Error(`mnist-vqa: ${tok.counts.truncated} questions longer than ${TEXT_LEN} tokens`);
  return set;
}
