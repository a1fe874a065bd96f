/**
 * Caption metrics against an independent Python implementation written from the published
 * definitions with coco-caption's conventions (scripts/fixtures/caption_metrics.py, its output in
 * test/fixtures/captions/metrics.json: several references per image, repeated n-grams, empty and
 * single-word candidates, the brevity penalty), and the COCO evaluation's tokenization.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captionScores, scoreTokenized } from '../../src/data/caption-metrics.ts';
import { ptbTokenize } from '../../src/data/ptb-tokenize.ts';

interface Corpus {
  name: string;
  images: { candidate: string; references: string[] }[];
  scores: Record<'Bleu_1' | 'Bleu_2' | 'Bleu_3' | 'Bleu_4' | 'ROUGE_L' | 'CIDEr_D', number>;
  per_image: { ROUGE_L: number[]; CIDEr_D: number[] };
}

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'captions', 'metrics.json'), 'utf8'),
) as { corpora: Corpus[] };
const words = (s: string) => s.split(' ').filter(Boolean);

describe('caption metrics', () => {
  it('has the fixture corpora (the comparison below compares something)', () => {
    expect(fixture.corpora.length).toBeGreaterThanOrEqual(4);
  });

  for (const c of fixture.corpora)
    it(`${c.name}: BLEU-1..4, ROUGE-L and CIDEr-D equal the Python implementation's, per image too`, () => {
      const got = scoreTokenized(
        c.images.map((im) => ({ candidate: words(im.candidate), references: im.references.map(words) })),
      );
      const want = c.scores;
      const pairs: [number, number][] = [
        [got.BLEU_1, want.Bleu_1],
        [got.BLEU_2, want.Bleu_2],
        [got.BLEU_3, want.Bleu_3],
        [got.BLEU_4, want.Bleu_4],
        [got.ROUGE_L, want.ROUGE_L],
        [got.CIDEr_D, want.CIDEr_D],
        ...got.perImage.ROUGE_L.map((x, i): [number, number] => [x, c.per_image.ROUGE_L[i]]),
        ...got.perImage.CIDEr_D.map((x, i): [number, number] => [x, c.per_image.CIDEr_D[i]]),
      ];
      for (const [g, w] of pairs) expect(Math.abs(g - w)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(w)));
    });

  it('raw captions are tokenized as the COCO evaluation does before scoring', () => {
    expect(ptbTokenize('A man riding a horse on the beach.')).toEqual([
      'a',
      'man',
      'riding',
      'a',
      'horse',
      'on',
      'the',
      'beach',
    ]);
    expect(ptbTokenize("It's a dog's life; they're happy!")).toEqual([
      'it',
      "'s",
      'a',
      'dog',
      "'s",
      'life',
      'they',
      "'re",
      'happy',
    ]);
    expect(ptbTokenize("Don't stop, I can't.")).toEqual(['do', "n't", 'stop', 'i', 'ca', "n't"]);
    expect(ptbTokenize('The U.S. flag at 10:30 (at night), 1,000 birds')).toEqual([
      'the',
      'u.s.',
      'flag',
      'at',
      '10:30',
      'at',
      'night',
      '1,000',
      'birds',
    ]);
    expect(ptbTokenize('A man in a t-shirt -- smiling... 3.5 meters tall.')).toEqual([
      'a',
      'man',
      'in',
      'a',
      't-shirt',
      'smiling',
      '3.5',
      'meters',
      'tall',
    ]);
    expect(ptbTokenize('"Hello" said the dogs\' owner; cannot wait')).toEqual([
      'hello',
      'said',
      'the',
      'dogs',
      'owner',
      'can',
      'not',
      'wait',
    ]);
    // Typographic quotes read as CoreNLP reads them.
    expect(ptbTokenize('\u201cIt\u2019s a dog\u201d')).toEqual(['it', "'s", 'a', 'dog']);
    // Case and punctuation do not change a score.
    const a = captionScores([{ candidate: 'A Dog runs.', references: ['a dog runs', 'the dog is running!'] }]);
    const b = captionScores([{ candidate: 'a dog runs', references: ['A dog runs.', 'The dog is running'] }]);
    expect(a).toEqual(b);
  });

  it('refuses a corpus it cannot score, by image', () => {
    expect(() => captionScores([])).toThrow('caption metrics: no images to score');
    expect(() => captionScores([{ candidate: 'a', references: [] }])).toThrow(
      'caption metrics: image 0 has no reference captions',
    );
  });
});
