/**
 * MNIST-VQA for the VL-T5-style encoder-decoder (model.ts vlT5): a T5-layout tokenizer.json
 * (SentencePiece Unigram pieces, Metaspace pre-tokenizer, </s> appended) that spells every
 * question and answer, and the sets as the model reads them: the question into the encoder, the
 * most common annotator answer as the decoder's teacher-forced target, and the answer vocabulary
 * with each question's soft scores for scoring what the decoder generates (Dataset.answers).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextTokenizer } from '../../src/data/tokenizer.ts';
import { argmax } from '../../src/runtime/metrics.ts';
import type { Example } from '../../src/runtime/batches.ts';
import { ANSWERS, type MnistVqaSet } from './mnist-vqa.ts';
import { addedToken, questionText, TEXT_LEN } from './text.ts';

const SPECIALS = ['<pad>', '</s>', '<unk>'];
export const [PAD, EOS] = [0, 1];
/** Whole-word pieces ('▁' marks a word start) for every question word and answer, and '?' (it ends each question). */
const WORDS = [
  'what',
  'digit',
  'is',
  'at',
  'the',
  'there',
  'a',
  'how',
  'many',
  'digits',
  'are',
  'sum',
  'of',
  'top',
  'two',
  'larger',
  'than',
  'which',
  'position',
  'holds',
  'largest',
  'all',
  'even',
];
const PIECES = [...new Set([...WORDS, ...ANSWERS])].map((w) => `▁${w}`).concat(['?', '▁']);
export const T5_VOCAB = [...SPECIALS, ...PIECES];
/** Decoder positions: one answer piece and </s>. */
export const ANSWER_LEN = 2;

/** tokenizer.json + tokenizer_config.json in t5-small's layout. */
export function writeT5Tokenizer(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const added = SPECIALS.map((content, id) => addedToken(content, id));
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
      ],
      special_tokens: { '</s>': { id: '</s>', ids: [EOS], tokens: ['</s>'] } },
    },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    // Every piece scores the same, so the fewest pieces win: whole words, '?' split off.
    model: {
      type: 'Unigram',
      unk_id: 2,
      vocab: T5_VOCAB.map((p, i) => [p, i < SPECIALS.length ? 0 : -1]),
      byte_fallback: false,
    },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json, null, 1));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify(
      {
        tokenizer_class: 'T5TokenizerFast',
        pad_token: '<pad>',
        eos_token: '</s>',
        unk_token: '<unk>',
        model_max_length: TEXT_LEN,
      },
      null,
      1,
    ),
  );
}

let tokenizer: TextTokenizer | null = null;
function t5Tokenizer(): TextTokenizer {
  if (!tokenizer) {
    const dir = mkdtempSync(join(tmpdir(), 'mnist-vqa-t5-'));
    writeT5Tokenizer(dir);
    tokenizer = TextTokenizer.fromDir(dir);
  }
  return tokenizer;
}

/** Answer a's decoder tokens: its piece, then </s>. */
export function answerTokens(): Int32Array[] {
  return ANSWERS.map((a) => {
    const { ids, length } = t5Tokenizer().encode(a, ANSWER_LEN);
    if (length !== ANSWER_LEN)
      throw new Error(
        `mnist-vqa t5: answer '${a}' is ${length} tokens with </s>, the decoder has ${ANSWER_LEN} positions`,
      );
    return ids;
  });
}

/** The set as the encoder-decoder reads it (scenes, questions and annotations kept). */
export function asT5(set: MnistVqaSet): MnistVqaSet {
  const tok = t5Tokenizer();
  const answers = answerTokens();
  const examples: Example[] = set.examples.map((e, i) => {
    const { ids, mask } = tok.encode(questionText(set.questions[i]), TEXT_LEN);
    const gold = answers[argmax(e.targets)];
    return {
      image: e.image,
      tokens: ids,
      mask,
      targetTokens: Int32Array.from([PAD, gold[0]]),
      targetLabels: gold,
      targetMask: new Float32Array(ANSWER_LEN).fill(1),
    };
  });
  if (tok.counts.truncated)
    throw new Error(`mnist-vqa t5: ${tok.counts.truncated} questions longer than ${TEXT_LEN} tokens`);
  return {
    ...set,
    examples: examples as MnistVqaSet['examples'],
    answers: { tokens: answers, start: PAD, scores: set.examples.map((e) => e.targets) },
  };
}
