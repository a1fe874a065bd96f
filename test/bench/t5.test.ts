/**
 * The encoder-decoder's view of MNIST-VQA (bench/vqa/t5.ts): its T5-layout tokenizer spells every
 * question and answer in one piece per word without <unk> (HF's tokenizer library segments them),
 * the decoder's target is the most common annotator answer then </s>, and generated answers are
 * scored with the same soft scores the classifier trains on.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextTokenizer } from '../../src/data/tokenizer.ts';
import { argmax } from '../../src/runtime/metrics.ts';
import { ANSWERS, DOWNSTREAM_FAMILIES, PRETRAIN_FAMILIES, mnistVqa } from '../../bench/vqa/mnist-vqa.ts';
import { ANSWER_LEN, EOS, PAD, T5_VOCAB, answerTokens, asT5, writeT5Tokenizer } from '../../bench/vqa/t5.ts';
import { questionText } from '../../bench/vqa/text.ts';

describe('MNIST-VQA for the encoder-decoder', () => {
  const families = [...PRETRAIN_FAMILIES, ...DOWNSTREAM_FAMILIES];

  it('spells every question and answer in whole pieces, no <unk>, </s> last', () => {
    const dir = mkdtempSync(join(tmpdir(), 't5-tok-'));
    writeT5Tokenizer(dir);
    const tok = TextTokenizer.fromDir(dir);
    const set = mnistVqa({ split: 'test', families, n: 400, seed: 3 });
    const unk = T5_VOCAB.indexOf('<unk>');
    for (const q of set.questions) {
      const { ids, length } = tok.encode(questionText(q), 16);
      const real = [...ids].slice(0, length);
      expect(real).not.toContain(unk);
      expect(real.at(-1)).toBe(EOS);
      expect(real.length).toBe(q.words.length + 1); // one piece per word ('?' is one), then </s>
    }
    answerTokens().forEach((ids, a) => {
      expect([...ids]).toHaveLength(ANSWER_LEN);
      expect(ids[1]).toBe(EOS);
      expect(T5_VOCAB[ids[0]]).toBe(`▁${ANSWERS[a]}`);
    });
    expect(new Set(answerTokens().map((ids) => ids[0])).size).toBe(ANSWERS.length);
  });

  it("targets the most common annotator answer; generated answers are scored with the classifier's soft scores", () => {
    const plain = mnistVqa({ split: 'train', families, n: 64, seed: 4 });
    const t5 = asT5(mnistVqa({ split: 'train', families, n: 64, seed: 4 }));
    const answers = answerTokens();
    t5.examples.forEach((e, i) => {
      const gold = argmax(plain.examples[i].targets);
      expect([...(e.targetTokens as Int32Array)]).toEqual([PAD, answers[gold][0]]);
      expect([...(e.targetLabels as Int32Array)]).toEqual([answers[gold][0], EOS]);
      expect([...e.image]).toEqual([...plain.examples[i].image]);
      expect(Object.keys(e).sort()).toEqual(['image', 'mask', 'targetLabels', 'targetMask', 'targetTokens', 'tokens']);
      expect(Array.from(t5.answers!.scores[i])).toEqual([...plain.examples[i].targets]);
    });
    expect(t5.answers!.start).toBe(PAD);
  });
});
