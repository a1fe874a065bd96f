/**
 * Tokenizers from tokenizer.json, one hand-written file per algorithm (test/fixtures/tokenizers,
 * laid out as bert-base-uncased's, roberta-base's and t5-small's are). Expected ids are worked
 * out by hand from each file's vocabulary, merges and scores, as the comments show.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TextTokenizer } from '../../src/data/tokenizer.ts';

const dir = (name: string) => join(import.meta.dirname, '..', 'fixtures', 'tokenizers', name);
const ids = (t: TextTokenizer, text: string, n: number) => Array.from(t.encode(text, n).ids);

describe('WordPiece (BERT)', () => {
  const t = TextTokenizer.fromDir(dir('wordpiece'));
  it('lowercases, splits punctuation, adds [CLS] .. [SEP], pads with [PAD]', () => {
    // [CLS]=2 what=4 is=5 the=6 color=7 ?=8 [SEP]=3, [PAD]=0
    expect(ids(t, 'What is the COLOR?', 9)).toEqual([2, 4, 5, 6, 7, 8, 3, 0, 0]);
    expect(Array.from(t.encode('What is the COLOR?', 9).mask)).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 0]);
  });
  it('splits words into the longest vocabulary pieces, unknown words into [UNK]', () => {
    // un=9 ##happy=10, cell=16 ##s=15; zebra has no pieces: [UNK]=1
    expect(ids(t, 'unhappy cells', 6)).toEqual([2, 9, 10, 16, 15, 3]);
    expect(ids(t, 'zebra', 3)).toEqual([2, 1, 3]);
  });
  it('truncates the text, keeps [SEP], and counts it', () => {
    const u = TextTokenizer.fromDir(dir('wordpiece'));
    expect(ids(u, 'What is the COLOR?', 5)).toEqual([2, 4, 5, 6, 3]);
    expect(u.encode('what is the color?', 5).length).toBe(7);
    expect(u.counts).toEqual({ texts: 2, truncated: 2, longest: 7 });
    expect(ids(u, 'a digit', 5)).toEqual([2, 18, 11, 3, 0]);
    expect(u.counts.truncated).toBe(2);
  });
});

describe('byte-level BPE (RoBERTa, GPT-2)', () => {
  const t = TextTokenizer.fromDir(dir('bpe'));
  it('maps spaces to Ġ, applies merges in rank order, wraps in <s> .. </s>, pads with <pad>', () => {
    // w h -> wh, wh a -> wha, wha t -> what=19; Ġ i -> Ġi, Ġi s -> Ġis=21; <s>=0 </s>=2 <pad>=1
    expect(ids(t, 'what is', 6)).toEqual([0, 19, 21, 2, 1, 1]);
    // c o -> co ... colo r -> color, Ġ color -> Ġcolor=26; ?=16
    expect(ids(t, 'what color?', 5)).toEqual([0, 19, 26, 16, 2]);
    expect(t.padId).toBe(1);
  });
  it("splits the 's contraction off as GPT-2's pattern does", () => {
    // "'s" has no merge: '=11 s=10
    expect(ids(t, "what's", 5)).toEqual([0, 19, 11, 10, 2]);
  });
  it('decodes back to the text', () => {
    expect(t.decode(t.encode('what color?', 8).ids)).toBe('what color?');
    // An empty generation decodes to the empty text (the tokenizers library refuses an empty list).
    expect(t.decode([])).toBe('');
  });
});

describe('Unigram with Metaspace (T5)', () => {
  const t = TextTokenizer.fromDir(dir('unigram'));
  it('takes the most probable segmentation and appends </s>', () => {
    // ▁what (-3) beats ▁wh + at (-8); ▁is (-3) beats ▁ + i + s (-12);
    // ▁digit? : ▁digit + ? (-8.5) beats ▁dig + it + ? (-9.0). </s>=1, <pad>=0
    expect(ids(t, 'what is the digit?', 8)).toEqual([4, 7, 10, 11, 14, 1, 0, 0]);
    // ▁top (-4) beats ▁ + t + o + p (-20)
    expect(ids(t, 'top', 2)).toEqual([15, 1]);
  });
  it('maps unknown characters to one fused <unk>', () => {
    // ▁=3, then x y z: none in the vocabulary, one <unk>=2
    expect(ids(t, 'xyz', 4)).toEqual([3, 2, 1, 0]);
  });
  it('truncates before </s>', () => {
    expect(ids(t, 'what is the digit?', 3)).toEqual([4, 7, 1]);
  });
});

describe('tokenizer errors', () => {
  it('names the directory and what is missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'tok-'));
    expect(() => TextTokenizer.fromDir(empty)).toThrow(/no tokenizer\.json/);
    writeFileSync(join(empty, 'tokenizer.json'), '{ nope');
    expect(() => TextTokenizer.fromDir(empty)).toThrow(/tokenizer\.json: not valid JSON/);
    expect(() => TextTokenizer.fromDir(dir('wordpiece')).encode('hello', 2)).toThrow(
      /maxLen 2 leaves no room for text between the tokenizer's 2 special tokens/,
    );
  });

  it('refuses a tokenizer that would read unknown words as the pad id, or has no vocabulary', () => {
    const base = JSON.parse(readFileSync(join(dir('wordpiece'), 'tokenizer.json'), 'utf8'));
    const write = (edit: (j: { model: Record<string, unknown> }) => void) => {
      const d = mkdtempSync(join(tmpdir(), 'tok-'));
      const j = structuredClone(base);
      edit(j);
      writeFileSync(join(d, 'tokenizer.json'), JSON.stringify(j));
      writeFileSync(join(d, 'tokenizer_config.json'), readFileSync(join(dir('wordpiece'), 'tokenizer_config.json')));
      return d;
    };
    expect(() => TextTokenizer.fromDir(write((j) => (j.model.unk_token = null)))).toThrow(
      /WordPiece model's unk_token null is not in its vocabulary, so unknown words would have no id/,
    );
    expect(() => TextTokenizer.fromDir(write((j) => (j.model.unk_token = '[NOPE]')))).toThrow(
      /unk_token "\[NOPE\]" is not in its vocabulary/,
    );
    expect(() => TextTokenizer.fromDir(write((j) => (j.model.vocab = {})))).toThrow(
      /the tokenizer's model has an empty vocabulary/,
    );
    // The shipped WordPiece maps an unknown word to [UNK] (id 1), never to the pad (0).
    const ok = TextTokenizer.fromDir(dir('wordpiece')).encode('zzqx', 6);
    expect([...ok.ids].slice(1, 2)).toEqual([1]);
  });
});
