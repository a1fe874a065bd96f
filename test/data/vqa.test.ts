/**
 * VQA data: the official evaluation's answer normalization (cases worked out from vqaEval.py's
 * rules), the answer vocabulary and soft scores, the JSONL and VQAv2 readers with their errors,
 * the k-shot draw, and the tensors they become.
 */
import { copyFileSync, cpSync, mkdirSync, symlinkSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rankAnswers } from '../../src/data/answers.ts';
import { AnswerVocab, normalizeAnswer } from '../../src/data/answers.ts';
import { kShot, labeled, readJsonl, readVqa, readVqaV2, toDataset } from '../../src/data/vqa.ts';
import { TextTokenizer } from '../../src/data/tokenizer.ts';
import { ImageProcessor, ProcessorConfig } from '../../src/data/image.ts';

const IMAGES = join(import.meta.dirname, '..', 'fixtures', 'images');

describe('answer normalization (vqaEval.py)', () => {
  it.each([
    ['Two', '2'], // number words become digits
    ['two dogs.', '2 dogs'], // the period goes (not before a digit)
    ['3.5', '3.5'], // a period before a digit stays
    ['Yes!', 'yes'], // '!' replaced by a space, then the split drops it
    ['a red car', 'red car'], // articles dropped
    ['dont', "don't"], // contractions restored
    ['1,000', '1000'], // "digit,digit" anywhere: every punctuation mark is removed
    ['t-shirt', 't shirt'], // '-' inside a word becomes a space
    ['red, white', 'red white'], // ", " : the comma is removed
    ['hi - there', 'hi there'],
    ['  The\tcat\n', 'cat'],
    ['(left)', 'left'],
  ])('%j -> %j', (raw, want) => {
    expect(normalizeAnswer(raw)).toBe(want);
  });
});

describe('answer vocabulary and soft scores', () => {
  const annotations = [
    ['2', 'two', 'Two.', 'three'],
    ['yes', 'yes', 'no'],
    ['red', 'yes'],
  ];
  const vocab = AnswerVocab.fromAnswers(annotations, 3);
  it('keeps the most frequent normalized answers', () => {
    // '2' x3 (2, two, Two.), 'yes' x3 (tie: first seen first), '3' (three) x1 before red, no x1
    expect(vocab.answers).toEqual(['2', 'yes', '3']);
  });
  it('scores min(1, n / 3), merging spellings that normalize alike', () => {
    const t = vocab.softTargets(['two', '2', 'yes', 'red']);
    expect(Array.from(t)).toEqual([Math.fround(2 / 3), Math.fround(1 / 3), 0]);
    expect(Array.from(vocab.softTargets(['yes', 'yes', 'Yes', 'yes']))).toEqual([0, 1, 0]);
  });
  it('pads a head wider than the answers with placeholders that no answer reaches and prediction never offers', () => {
    const wide = AnswerVocab.fromAnswers(annotations, 8, { pad: true });
    expect(wide.answers).toEqual(['2', 'yes', '3', 'no', 'red', '<unused 0>', '<unused 1>', '<unused 2>']);
    // No spelling of an answer normalizes to a placeholder.
    expect(wide.indexOf('<unused 0>')).toBeUndefined();
    expect(Array.from(wide.softTargets(['<unused 1>', 'unused 1']))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    const scores = [0.1, 0.2, 0.3, 0.4, 0.05, 0.9, 0.8, 0.01];
    expect(rankAnswers(scores, wide.answers, 3)).toEqual([
      { answer: 'no', score: 0.4 },
      { answer: '3', score: 0.3 },
      { answer: 'yes', score: 0.2 },
    ]);
  });
});

function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'vqa-'));
  mkdirSync(join(d, 'img'));
  copyFileSync(join(IMAGES, 'rgb.png'), join(d, 'img', 'a.png'));
  copyFileSync(join(IMAGES, 'photo.jpg'), join(d, 'img', 'b.jpg'));
  return d;
}

describe('JSONL records', () => {
  it('reads image paths relative to the file, answers as a list or one string', () => {
    const d = scratch();
    writeFileSync(
      join(d, 'train.jsonl'),
      [
        '{"image": "img/a.png", "question": "What color?", "answers": ["red", "red", "blue"]}',
        '',
        '{"image": "img/b.jpg", "question": "Is it?", "answers": "yes"}',
      ].join('\n'),
    );
    const r = readVqa(d);
    expect(r.map((x) => [x.image, x.answers])).toEqual([
      [join(d, 'img', 'a.png'), ['red', 'red', 'blue']],
      [join(d, 'img', 'b.jpg'), ['yes']],
    ]);
    expect(r[1].where).toBe(`${join(d, 'train.jsonl')}:3`);
  });

  it('names the file and line of a bad record', () => {
    const d = scratch();
    const bad = (line: string) => {
      writeFileSync(join(d, 'x.jsonl'), `{"image": "img/a.png", "question": "q?", "answers": ["a"]}\n${line}\n`);
      return () => readJsonl(join(d, 'x.jsonl'));
    };
    expect(bad('{"image": "img/zz.png", "question": "q?", "answers": ["a"]}')).toThrow(
      /x\.jsonl:2: image .*zz\.png does not exist/,
    );
    expect(bad('{"image": "img/a.png", "question": "  ", "answers": ["a"]}')).toThrow(/x\.jsonl:2: empty question/);
    expect(bad('{"image": "img/a.png", "question": "q?", "answers": []}')).toThrow(/x\.jsonl:2: no answers/);
    expect(bad('{"image": "img/a.png", "question": "q?", "answers": [1]}')).toThrow(
      /x\.jsonl:2: "answers" must be a string or a list of strings/,
    );
    expect(bad('{"image": 3}')).toThrow(/x\.jsonl:2: "image" must be a file path/);
    expect(bad('not json')).toThrow(/x\.jsonl:2: not a JSON object/);
  });
});

describe('images stay inside the data directory', () => {
  it("'..', absolute paths and symlinks out of it are refused unless allowed", () => {
    const outside = scratch();
    copyFileSync(join(IMAGES, 'rgb.png'), join(outside, 'far.png'));
    const d = scratch();
    symlinkSync(join(outside, 'far.png'), join(d, 'img', 'link.png'));
    const line = (image: string) =>
      writeFileSync(join(d, 'x.jsonl'), `${JSON.stringify({ image, question: 'q?', answers: ['1'] })}\n`);
    line('img/a.png');
    expect(readJsonl(join(d, 'x.jsonl'))).toHaveLength(1);
    for (const image of [join('..', outside.split('/').pop()!, 'far.png'), join(outside, 'far.png'), 'img/link.png']) {
      line(image);
      expect(() => readJsonl(join(d, 'x.jsonl')), image).toThrow(
        /x\.jsonl:1: image .* is outside the data directory .* \(--allow-outside-data allows it\)/,
      );
      expect(readJsonl(join(d, 'x.jsonl'), true, true)).toHaveLength(1);
    }
  });
});

describe('VQAv2 layout', () => {
  it('joins questions, annotations and COCO image names', () => {
    const d = scratch();
    mkdirSync(join(d, 'images'));
    copyFileSync(join(IMAGES, 'rgb.png'), join(d, 'images', 'COCO_val2014_000000000042.jpg'));
    writeFileSync(
      join(d, 'v2_OpenEnded_mscoco_val2014_questions.json'),
      JSON.stringify({
        data_subtype: 'val2014',
        questions: [{ image_id: 42, question: 'How many?', question_id: 420 }],
      }),
    );
    writeFileSync(
      join(d, 'v2_mscoco_val2014_annotations.json'),
      JSON.stringify({
        annotations: [
          {
            question_id: 420,
            image_id: 42,
            answers: Array.from({ length: 10 }, (_, i) => ({ answer: i < 7 ? '2' : 'two', answer_id: i + 1 })),
          },
        ],
      }),
    );
    const r = readVqa(d, 'val');
    expect(r).toHaveLength(1);
    expect(r[0].image).toBe(join(d, 'images', 'COCO_val2014_000000000042.jpg'));
    expect(r[0].answers).toHaveLength(10);
    writeFileSync(join(d, 'v2_mscoco_val2014_annotations.json'), JSON.stringify({ annotations: [] }));
    expect(() =>
      readVqaV2(
        join(d, 'v2_OpenEnded_mscoco_val2014_questions.json'),
        join(d, 'v2_mscoco_val2014_annotations.json'),
        join(d, 'images'),
      ),
    ).toThrow(/questions\.json#420: no annotation/);
  });

  it('null or missing answers, duplicate ids and null entries are errors naming the record, never values', () => {
    const d = scratch();
    mkdirSync(join(d, 'images'));
    copyFileSync(join(IMAGES, 'rgb.png'), join(d, 'images', 'COCO_val2014_000000000042.jpg'));
    const qs = join(d, 'q_questions.json');
    const an = join(d, 'a_annotations.json');
    const q = (questions: unknown[]) => writeFileSync(qs, JSON.stringify({ data_subtype: 'val2014', questions }));
    const a = (annotations: unknown[]) => writeFileSync(an, JSON.stringify({ annotations }));
    const read = () => readVqaV2(qs, an, join(d, 'images'));
    const q420 = { image_id: 42, question: 'How many?', question_id: 420 };
    q([q420]);
    a([{ question_id: 420, answers: [{ answer: '2' }, { answer: null }] }]);
    expect(read).toThrow(/a_annotations\.json#420: answer 1 is null, not a string/);
    a([{ question_id: 420, answers: [{ answer: '2' }, {}] }]);
    expect(read).toThrow(/#420: answer 1 is missing, not a string/);
    a([
      { question_id: 420, answers: [{ answer: '2' }] },
      { question_id: 420, answers: [{ answer: '3' }] },
    ]);
    expect(read).toThrow(/a_annotations\.json#420: question id annotated twice/);
    a([{ question_id: 420, answers: [{ answer: '2' }] }]);
    q([q420, q420]);
    expect(read).toThrow(/q_questions\.json#420: question id given twice/);
    q([q420, null]);
    expect(read).toThrow(/q_questions\.json: question 1 is not an object with an integer "question_id"/);
    a([null]);
    q([q420]);
    expect(read).toThrow(/a_annotations\.json: annotation 0 is not an object/);
  });

  it('a split is scored whole or not at all: all without answers is unlabeled, a mix is an error', () => {
    const recs = (n: number, withAnswers: number) =>
      Array.from({ length: n }, (_, i) => ({
        image: 'x.png',
        question: 'q?',
        answers: i < withAnswers ? ['1'] : [],
        where: `t.jsonl:${i + 1}`,
      }));
    expect(labeled(recs(3, 3), 'test')).toBe(true);
    expect(labeled(recs(3, 0), 'test')).toBe(false);
    expect(() => labeled(recs(3, 2), 'test')).toThrow(/t\.jsonl:3: no answers, while 2 other test records have some/);
  });

  it('says what it expected in a directory it cannot read', () => {
    expect(() => readVqa(scratch())).toThrow(/expected train\.jsonl, or one VQAv2 \*questions\*\.json/);
  });
});

describe('k-shot draw', () => {
  const pool = Array.from({ length: 40 }, (_, i) => ({ image: `${i}`, question: 'q', answers: ['a'], where: `#${i}` }));
  it('draws k to train and a disjoint k for dev, the same for a seed and different across seeds', () => {
    const a = kShot(pool, 8, 13);
    expect(a.train).toHaveLength(8);
    expect(a.dev).toHaveLength(8);
    expect(new Set([...a.train, ...a.dev].map((r) => r.where)).size).toBe(16);
    expect(kShot(pool, 8, 13)).toEqual(a);
    expect(kShot(pool, 8, 21).train).not.toEqual(a.train);
    expect(() => kShot(pool, 21, 1)).toThrow(/k = 21 needs 42 records/);
  });
});

describe('records to tensors', () => {
  it('tokenizes, preprocesses and scores each record', async () => {
    const d = scratch();
    writeFileSync(
      join(d, 'train.jsonl'),
      '{"image": "img/a.png", "question": "What is the color?", "answers": ["red", "red", "Red", "a red"]}\n{"image": "img/b.jpg", "question": "what", "answers": ["zebra"]}\n',
    );
    const records = readVqa(d);
    const vocab = AnswerVocab.fromAnswers([['red', 'blue']], 2);
    const tokenizer = TextTokenizer.fromDir(join(import.meta.dirname, '..', 'fixtures', 'tokenizers', 'wordpiece'));
    const processor = new ImageProcessor(ProcessorConfig.parse({ size: { height: 8, width: 8 } }), 3, [8, 8]);
    const ds = await toDataset(records, { tokenizer, processor, vocab, maxLen: 8 });
    expect(ds.examples[0].image).toHaveLength(3 * 8 * 8);
    expect(Array.from(ds.examples[0].tokens)).toEqual([2, 4, 5, 6, 7, 8, 3, 0]);
    expect(Array.from(ds.examples[0].targets)).toEqual([1, 0]);
    expect(ds.outOfVocab).toBe(1); // "zebra" is no class
  });
});

describe('which files an encoder-decoder reads: questions or captions', () => {
  const FIX = join(import.meta.dirname, '..', 'fixtures', 'vqav2', 'train');
  it('reads a VQAv2 directory and a JSONL split by their contents, and refuses a directory holding both kinds', async () => {
    const { holdsQuestions } = await import('../../src/cli/vqa-data.ts');
    expect(holdsQuestions(FIX)).toBe(true);
    const d = mkdtempSync(join(tmpdir(), 'pg-holds-'));
    writeFileSync(join(d, 'test.jsonl'), `${JSON.stringify({ image: 'a.png', question: 'q', answers: ['a'] })}\n`);
    writeFileSync(join(d, 'train.jsonl'), `${JSON.stringify({ image: 'a.png', captions: ['a cat'] })}\n`);
    expect(holdsQuestions(d, 'test')).toBe(true);
    expect(holdsQuestions(d, 'train')).toBe(false);
    writeFileSync(join(d, 'v2_questions.json'), '{"questions": []}');
    writeFileSync(join(d, 'captions_train2014.json'), '{}');
    expect(() => holdsQuestions(d)).toThrow(
      /holds VQA questions \(v2_questions\.json\) and captions \(captions_train2014\.json\); put each in its own directory/,
    );
  });

  it('refuses training records without answers (a VQAv2 directory without its annotations)', async () => {
    const { loadVqaData } = await import('../../src/cli/vqa-data.ts');
    const d = mkdtempSync(join(tmpdir(), 'pg-noann-'));
    cpSync(join(FIX, 'images'), join(d, 'images'), { recursive: true });
    copyFileSync(
      join(FIX, 'v2_OpenEnded_mscoco_train2014_questions.json'),
      join(d, 'v2_OpenEnded_mscoco_train2014_questions.json'),
    );
    const { vl } = await import('../../src/dsl/index.ts');
    const spec = vl.model({
      vision: vl.vit({ image: [16, 16], patch: 8, width: 8, depth: 1, heads: 2 }),
      text: vl.encoder({ vocab: 8, maxLen: 3, width: 8, depth: 1, heads: 2 }),
      visualPrefix: 'pooled',
      head: vl.classifier({ answers: 4 }),
    }).spec;
    await expect(loadVqaData(spec, { data: d, seed: 1, allowOutside: true })).rejects.toThrow(
      /the training records have no answers \(a VQAv2 directory needs its \*annotations\*\.json beside the questions\)/,
    );
  });
});
