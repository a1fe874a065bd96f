/** MNIST-VQA data: determinism, train/test disjointness, answers re-derived independently, rendering. */
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import {
  ANSWERS,
  CANVAS,
  DOWNSTREAM_FAMILIES,
  PRETRAIN_FAMILIES,
  POSITIONS,
  QLEN,
  WORDS,
  mnistVqa,
  pool,
} from '../../bench/vqa/mnist-vqa.ts';

const ALL = [...PRETRAIN_FAMILIES, ...DOWNSTREAM_FAMILIES];

/** An independent reading of a question: from its words and the scene's cells to the answer. */
function oracle(words: string[], cells: number[]): string {
  const s = words.join(' ');
  const digitsIn = cells.filter((d) => d >= 0);
  const named = words.find((w) => /^d\d$/.test(w));
  const d = named ? Number(named.slice(1)) : -1;
  if (s.startsWith('what digit is at the')) {
    const v = cells[POSITIONS.indexOf(words[5] as (typeof POSITIONS)[number])];
    return v < 0 ? 'none' : String(v);
  }
  if (s.startsWith('is there a')) return digitsIn.includes(d) ? 'yes' : 'no';
  if (s === 'how many digits are there ?') return String(digitsIn.length);
  if (s.startsWith('how many d')) return String(digitsIn.filter((x) => x === d).length);
  if (s.startsWith('what is the sum of the top two')) return String(Math.max(cells[0], 0) + Math.max(cells[1], 0));
  if (s.startsWith('is the top-left digit larger')) return cells[0] > cells[3] ? 'yes' : 'no';
  if (s.startsWith('which position holds the largest')) return POSITIONS[cells.indexOf(Math.max(...cells))];
  if (s.startsWith('is the sum of all digits even')) return digitsIn.reduce((a, b) => a + b, 0) % 2 ? 'no' : 'yes';
  throw new Error(`unknown question: ${s}`);
}

describe('MNIST-VQA data', () => {
  it('is deterministic for a seed', () => {
    const a = mnistVqa({ split: 'train', families: ALL, n: 40, seed: 3 });
    const b = mnistVqa({ split: 'train', families: ALL, n: 40, seed: 3 });
    const c = mnistVqa({ split: 'train', families: ALL, n: 40, seed: 4 });
    expect(b.examples).toEqual(a.examples);
    expect(c.questions.map((q) => q.words.join(' '))).not.toEqual(a.questions.map((q) => q.words.join(' ')));
  });

  it('never shows a test digit sample in training', () => {
    const train = mnistVqa({ split: 'train', families: ALL, n: 600, seed: 1 });
    const test = mnistVqa({ split: 'test', families: ALL, n: 600, seed: 1 });
    const used = (set: typeof train) =>
      new Set(
        set.scenes.flatMap((s) => s.cells.map((d, i) => (d < 0 ? '' : `${d}:${s.sampleIds[i]}`)).filter(Boolean)),
      );
    const [tr, te] = [used(train), used(test)];
    for (const k of te) expect(tr.has(k)).toBe(false);
    for (let d = 0; d < 10; d++) {
      const [lo, hi] = pool('train', d);
      const [tlo, thi] = pool('test', d);
      expect(hi).toBe(tlo); // adjacent, not overlapping
      expect(lo).toBe(0);
      expect(thi - tlo).toBeGreaterThan(150);
    }
  });

  it('answers every question as an independent reading of the scene does', () => {
    const set = mnistVqa({ split: 'test', families: ALL, n: 800, seed: 9, noise: 0 });
    const families = new Set<string>();
    set.questions.forEach((q, i) => {
      families.add(q.family);
      expect(oracle(q.words, set.scenes[i].cells), `${q.words.join(' ')} ${set.scenes[i].cells}`).toBe(q.answer);
      // Without noise the soft target is exactly one-hot at the answer.
      const t = set.examples[i].targets;
      expect(t[ANSWERS.indexOf(q.answer)]).toBe(1);
      expect(t.reduce((a, b) => a + b, 0)).toBe(1);
    });
    expect([...families].sort()).toEqual([...ALL].sort());
  });

  it('encodes questions in the vocabulary and renders the digits into their cells', () => {
    const set = mnistVqa({ split: 'train', families: ALL, n: 30, seed: 5 });
    const require = createRequire(import.meta.url);
    set.examples.forEach((ex, i) => {
      const words = [...ex.tokens].filter((_, j) => ex.mask[j] === 1).map((t) => WORDS[t]);
      expect(words).toEqual(set.questions[i].words);
      expect(ex.tokens.length).toBe(QLEN);
      const { cells, sampleIds } = set.scenes[i];
      cells.forEach((d, c) => {
        const [oy, ox] = [Math.floor(c / 2) * 28, (c % 2) * 28];
        const px = (y: number, x: number) => ex.image[(oy + y) * CANVAS + ox + x];
        if (d < 0) expect(Array.from({ length: 28 }, (_, y) => px(y, 14)).every((v) => v === 0)).toBe(true);
        else {
          const raw = require(`mnist/src/digits/${d}.json`).data as number[];
          for (const [y, x] of [
            [14, 14],
            [10, 12],
            [20, 9],
          ])
            expect(px(y, x)).toBeCloseTo(raw[sampleIds[c] * 784 + y * 28 + x], 6);
        }
      });
    });
  });

  it('shift moves each digit within its cell and changes nothing else', () => {
    const plain = mnistVqa({ split: 'train', families: ALL, n: 40, seed: 8 });
    const moved = mnistVqa({ split: 'train', families: ALL, n: 40, seed: 8, shift: 3 });
    expect(moved.scenes).toEqual(plain.scenes);
    expect(moved.questions).toEqual(plain.questions);
    let differ = 0;
    moved.examples.forEach((ex, i) => {
      expect([...ex.targets]).toEqual([...plain.examples[i].targets]);
      plain.scenes[i].cells.forEach((d, c) => {
        if (d < 0) return;
        const [oy, ox] = [Math.floor(c / 2) * 28, (c % 2) * 28];
        const cell = (img: Float32Array, y: number, x: number) =>
          y < 0 || x < 0 || y >= 28 || x >= 28 ? 0 : img[(oy + y) * CANVAS + ox + x];
        // Some shift (dy, dx) in [-3, 3]^2 maps the plain cell onto the moved one, pixel for pixel
        // where both are inside the cell.
        const fits = (dy: number, dx: number) => {
          for (let y = 0; y < 28; y++)
            for (let x = 0; x < 28; x++)
              if (
                y - dy >= 0 &&
                y - dy < 28 &&
                x - dx >= 0 &&
                x - dx < 28 &&
                cell(ex.image, y, x) !== cell(plain.examples[i].image, y - dy, x - dx)
              )
                return false;
          return true;
        };
        const shifts = [-3, -2, -1, 0, 1, 2, 3].flatMap((dy) => [-3, -2, -1, 0, 1, 2, 3].map((dx) => [dy, dx]));
        const found = shifts.filter(([dy, dx]) => fits(dy, dx));
        expect(found.length, `scene ${i} cell ${c}`).toBeGreaterThan(0);
        if (!found.some(([dy, dx]) => dy === 0 && dx === 0)) differ++;
      });
    });
    expect(differ).toBeGreaterThan(40); // most digits moved
    expect(
      mnistVqa({ split: 'train', families: ALL, n: 40, seed: 8, shift: 0 }).examples.map((e) => [...e.image]),
    ).toEqual(plain.examples.map((e) => [...e.image]));
  });

  it('noisy annotators give soft scores that still rank the true answer first', () => {
    const set = mnistVqa({ split: 'train', families: ALL, n: 300, seed: 2, noise: 0.1 });
    let soft = 0;
    set.examples.forEach((ex, i) => {
      const truth = ANSWERS.indexOf(set.questions[i].answer);
      expect(ex.targets[truth]).toBe(Math.max(...ex.targets));
      if (ex.targets.some((v, j) => j !== truth && v > 0)) soft++;
    });
    expect(soft).toBeGreaterThan(50); // noise shows up as partial credit on wrong answers
  });
});
