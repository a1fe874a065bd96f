/**
 * MNIST-VQA: visual question answering over real handwritten digits (the `mnist` package's
 * 10,000 samples), small enough for lavapipe.
 *
 * A scene is a 56x56 canvas of 2x2 cells of 28x28; each cell is empty or holds one digit.
 * Digit samples are split per class (first 80% for train scenes, last 20% for test scenes), so
 * no test sample is ever seen in training. Questions are templated word sequences; answers come
 * from one shared vocabulary. Two disjoint question families:
 *   pretraining:  which digit is at a position; is there a d; how many digits; how many d's
 *   downstream:   sum of the top two digits; is top-left larger than bottom-right; which
 *                 position holds the largest digit; is the sum of all digits even
 * Ten simulated annotators answer each question; each errs with probability `noise` (default
 * 0.1) by picking another answer of the same family, so VQA soft-score accuracy is meaningful.
 */
import { createRequire } from 'node:module';
import { prng } from '../../src/runtime/init.ts';
import { softTargets } from '../../src/runtime/metrics.ts';
import type { Dataset, Example } from '../../src/runtime/batches.ts';

const require = createRequire(import.meta.url);
const SIZE = 28;
export const CANVAS = 56;
export const QLEN = 12;
export const POSITIONS = ['top-left', 'top-right', 'bottom-left', 'bottom-right'] as const;

export const WORDS = [
  '<pad>',
  '?',
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
  ...POSITIONS,
  ...'0123456789'.split('').map((d) => `d${d}`),
];
export const ANSWERS = [...Array(19).keys()].map(String).concat(['yes', 'no', 'none', ...POSITIONS]);
const word = (w: string) => {
  const i = WORDS.indexOf(w);
  if (i < 0) throw new Error(`mnist-vqa: '${w}' is not in the vocabulary`);
  return i;
};
const answer = (a: string) => ANSWERS.indexOf(a);

export const PRETRAIN_FAMILIES = ['digit-at', 'is-there', 'count', 'count-digit'] as const;
export const DOWNSTREAM_FAMILIES = ['sum-top', 'larger', 'largest-position', 'sum-parity'] as const;
export type Family = (typeof PRETRAIN_FAMILIES)[number] | (typeof DOWNSTREAM_FAMILIES)[number];
export const ALL_FAMILIES: readonly Family[] = [...PRETRAIN_FAMILIES, ...DOWNSTREAM_FAMILIES];

/**
 * Per class, the sample indices a split may use: train the first 80%, test the last 20%. The
 * near-transfer setting (issue 35) splits train further: pretraining the first 60%, the
 * downstream pool ('adapt') the next 20%, so adaptation sees digit samples pretraining never did.
 */
let digits: number[][] | null = null;
function samples(): number[][] {
  digits ??= [...Array(10).keys()].map((d) => require(`mnist/src/digits/${d}.json`).data as number[]);
  return digits;
}
export type Split = 'train' | 'test' | 'pretrain' | 'adapt';
export function pool(split: Split, d: number): [number, number] {
  const n = samples()[d].length / (SIZE * SIZE);
  const cut = Math.floor(n * 0.8);
  const pre = Math.floor(n * 0.6);
  return { train: [0, cut], test: [cut, n], pretrain: [0, pre], adapt: [pre, cut] }[split] as [number, number];
}

/**
 * How questions are worded. 'pretrain': the templates every earlier setting used. 'downstream':
 * new templates of the same families from the same words (another order, another construction;
 * `larger` asks the other way round, so its answer flips), for the near-transfer setting.
 */
export type Phrasing = 'pretrain' | 'downstream';

export interface Scene {
  /** Digit per cell (top-left, top-right, bottom-left, bottom-right), -1 when empty. */
  cells: number[];
  /** MNIST sample index per cell within its class, -1 when empty. */
  sampleIds: number[];
}

export interface MnistVqaExample extends Example {
  image: Float32Array;
  tokens: Int32Array;
  mask: Float32Array;
  targets: Float32Array;
}

export interface Question {
  family: Family;
  words: string[];
  answer: string;
}

/** The scene's canvas; each digit moved by shifts[c] = [dy, dx] pixels within its cell (what leaves the cell is cut). */
function render(scene: Scene, shifts?: [number, number][]): Float32Array {
  const img = new Float32Array(CANVAS * CANVAS);
  scene.cells.forEach((d, c) => {
    if (d < 0) return;
    const src = samples()[d];
    const off = scene.sampleIds[c] * SIZE * SIZE;
    const [oy, ox] = [Math.floor(c / 2) * SIZE, (c % 2) * SIZE];
    const [dy, dx] = shifts?.[c] ?? [0, 0];
    for (let y = Math.max(0, dy); y < Math.min(SIZE, SIZE + dy); y++)
      for (let x = Math.max(0, dx); x < Math.min(SIZE, SIZE + dx); x++)
        img[(oy + y) * CANVAS + ox + x] = src[off + (y - dy) * SIZE + (x - dx)];
  });
  return img;
}

/** The question of `family` about `scene`, or null when the scene does not suit it. */
export function ask(family: Family, scene: Scene, r: () => number, phrasing: Phrasing = 'pretrain'): Question | null {
  const q = askPretrain(family, scene, r);
  return q && phrasing === 'downstream' ? reword(q, scene) : q;
}

/**
 * The downstream template of a pretraining-worded question: the same family and the same
 * operands (digit, position), so the draws of scenes and questions stay those of the seed.
 */
function reword(q: Question, scene: Scene): Question {
  const digit = q.words.find((w) => /^d\d$/.test(w));
  const pos = q.words.find((w) => (POSITIONS as readonly string[]).includes(w));
  const c = scene.cells;
  switch (q.family) {
    case 'digit-at':
      return { ...q, words: ['which', 'digit', 'is', 'the', pos!, 'digit', '?'] };
    case 'is-there':
      return { ...q, words: ['is', 'a', digit!, 'there', '?'] };
    case 'count':
      return { ...q, words: ['there', 'are', 'how', 'many', 'digits', '?'] };
    case 'count-digit':
      return { ...q, words: ['there', 'are', 'how', 'many', digit!, '?'] };
    case 'sum-top':
      return { ...q, words: ['what', 'is', 'the', 'sum', 'of', 'the', 'two', 'top', 'digits', '?'] };
    case 'larger':
      return {
        ...q,
        words: ['is', 'the', 'bottom-right', 'digit', 'larger', 'than', 'the', 'top-left', 'digit', '?'],
        answer: c[3] > c[0] ? 'yes' : 'no',
      };
    case 'largest-position':
      return { ...q, words: ['the', 'largest', 'digit', 'is', 'at', 'which', 'position', '?'] };
    case 'sum-parity':
      return { ...q, words: ['the', 'sum', 'of', 'all', 'digits', 'is', 'even', '?'] };
  }
}

function askPretrain(family: Family, scene: Scene, r: () => number): Question | null {
  const c = scene.cells;
  const present = c.filter((d) => d >= 0);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  switch (family) {
    case 'digit-at': {
      const p = Math.floor(r() * 4);
      return {
        family,
        words: ['what', 'digit', 'is', 'at', 'the', POSITIONS[p], '?'],
        answer: c[p] >= 0 ? String(c[p]) : 'none',
      };
    }
    case 'is-there': {
      const d = r() < 0.5 && present.length ? pick(present) : Math.floor(r() * 10);
      return { family, words: ['is', 'there', 'a', `d${d}`, '?'], answer: present.includes(d) ? 'yes' : 'no' };
    }
    case 'count':
      return { family, words: ['how', 'many', 'digits', 'are', 'there', '?'], answer: String(present.length) };
    case 'count-digit': {
      const d = r() < 0.6 && present.length ? pick(present) : Math.floor(r() * 10);
      return {
        family,
        words: ['how', 'many', `d${d}`, 'are', 'there', '?'],
        answer: String(present.filter((x) => x === d).length),
      };
    }
    case 'sum-top':
      return {
        family,
        words: ['what', 'is', 'the', 'sum', 'of', 'the', 'top', 'two', 'digits', '?'],
        answer: String(Math.max(c[0], 0) + Math.max(c[1], 0)),
      };
    case 'larger':
      if (c[0] < 0 || c[3] < 0 || c[0] === c[3]) return null;
      return {
        family,
        words: ['is', 'the', 'top-left', 'digit', 'larger', 'than', 'the', 'bottom-right', 'digit', '?'],
        answer: c[0] > c[3] ? 'yes' : 'no',
      };
    case 'largest-position': {
      const max = Math.max(...c);
      if (max < 0 || c.filter((d) => d === max).length !== 1) return null;
      return {
        family,
        words: ['which', 'position', 'holds', 'the', 'largest', 'digit', '?'],
        answer: POSITIONS[c.indexOf(max)],
      };
    }
    case 'sum-parity':
      if (present.length === 0) return null;
      return {
        family,
        words: ['is', 'the', 'sum', 'of', 'all', 'digits', 'even', '?'],
        answer: present.reduce((a, b) => a + b, 0) % 2 === 0 ? 'yes' : 'no',
      };
  }
}

/** Answers a family can have: annotator errors are drawn among them. */
export function familyAnswers(family: Family): string[] {
  switch (family) {
    case 'digit-at':
      return [...'0123456789'.split(''), 'none'];
    case 'is-there':
    case 'larger':
    case 'sum-parity':
      return ['yes', 'no'];
    case 'count':
    case 'count-digit':
      return ['0', '1', '2', '3', '4'];
    case 'sum-top':
      return [...Array(19).keys()].map(String);
    case 'largest-position':
      return [...POSITIONS];
  }
}

export interface MnistVqaOptions {
  split: Split;
  families: readonly Family[];
  /** Question templates (default 'pretrain'). */
  phrasing?: Phrasing;
  /** Relative frequency of each digit class in a non-empty cell (default: uniform). */
  digitWeights?: readonly number[];
  n: number;
  seed: number;
  /** Probability that an annotator answers wrongly (default 0.1). */
  noise?: number;
  /** Probability that a cell is empty (default 0.25). */
  empty?: number;
  /**
   * Pretraining augmentation: each digit moved by up to this many pixels along each axis (MNIST
   * digits sit in a 4-pixel margin, so 3 cuts nothing). Drawn from its own stream: the scenes,
   * questions and answers are those of the same seed without it. Default 0.
   */
  shift?: number;
}

export interface MnistVqaSet extends Dataset {
  examples: MnistVqaExample[];
  scenes: Scene[];
  questions: Question[];
  /** The ten annotators' answers to each question. */
  annotations: string[][];
}

/** A digit class from one uniform draw u: uniform (as every earlier set drew it), or by `weights`. */
function classSampler(weights?: readonly number[]): (u: number) => number {
  if (!weights) return (u) => Math.floor(u * 10);
  const ws = Array.isArray(weights) ? Array.from(weights) : [];
  if (
    ws.length !== 10 ||
    !ws.every((w) => typeof w === 'number' && w >= 0 && Number.isFinite(w)) ||
    !ws.some((w) => w > 0) ||
    !Number.isFinite(ws.reduce((a, b) => a + b, 0))
  )
    throw new Error(
      `mnist-vqa: digitWeights needs 10 finite non-negative weights, not all 0, with a finite sum (got ${JSON.stringify(weights)})`,
    );
  const total = weights.reduce((a, b) => a + b, 0);
  const cum = weights.map((_, i) => weights.slice(0, i + 1).reduce((a, b) => a + b, 0) / total);
  return (u) => {
    const d = cum.findIndex((c) => u < c);
    return d < 0 ? 9 : d; // u just under 1 against a sum rounded below 1
  };
}

const PHRASINGS: readonly Phrasing[] = ['pretrain', 'downstream'];

/** Options are built in code, but a wrong one (a phrasing misspelt, a probability of 2) would draw another dataset silently. */
function checkOptions(o: MnistVqaOptions): void {
  const bad = (what: string) => {
    throw new Error(`mnist-vqa: ${what}`);
  };
  const splits: Split[] = ['train', 'test', 'pretrain', 'adapt'];
  if (!splits.includes(o.split)) bad(`split '${o.split}' (valid: ${splits.join(', ')})`);
  if (o.phrasing !== undefined && !PHRASINGS.includes(o.phrasing))
    bad(`phrasing '${o.phrasing}' (valid: ${PHRASINGS.join(', ')})`);
  if (!Array.isArray(o.families) || !o.families.length) bad('families must be a non-empty list');
  for (const f of o.families) if (!ALL_FAMILIES.includes(f)) bad(`family '${f}' (valid: ${ALL_FAMILIES.join(', ')})`);
  if (!Number.isSafeInteger(o.n) || o.n < 0) bad(`n ${o.n} is not a count`);
  if (!Number.isSafeInteger(o.seed)) bad(`seed ${o.seed} is not an integer`);
  if (o.shift !== undefined && !(Number.isInteger(o.shift) && o.shift >= 0 && o.shift <= 4))
    bad(`shift ${o.shift} must be a whole number of pixels in [0, 4] (the digits' margin)`);
  for (const [name, p] of [
    ['noise', o.noise],
    ['empty', o.empty],
  ] as const)
    if (p !== undefined && !(typeof p === 'number' && p >= 0 && p < 1))
      bad(`${name} ${p} must be a probability in [0, 1)`);
}

export function mnistVqa(o: MnistVqaOptions): MnistVqaSet {
  checkOptions(o);
  const r = prng(o.seed);
  const jitter = prng(o.seed ^ 0x5eed);
  const shift = o.shift ?? 0;
  const draw = () => Math.floor(jitter() * (2 * shift + 1)) - shift;
  const noise = o.noise ?? 0.1;
  const digitOf = classSampler(o.digitWeights);
  const examples: MnistVqaExample[] = [];
  const scenes: Scene[] = [];
  const questions: Question[] = [];
  const annotations: string[][] = [];
  // Some options leave no scene a question (only 'larger', with one digit weighted: the two
  // digits it compares are always equal): a long run of unanswerable scenes stops the draw.
  let unanswered = 0;
  while (examples.length < o.n) {
    const cells = [0, 1, 2, 3].map(() => (r() < (o.empty ?? 0.25) ? -1 : digitOf(r())));
    const sampleIds = cells.map((d) => {
      if (d < 0) return -1;
      const [lo, hi] = pool(o.split, d);
      return lo + Math.floor(r() * (hi - lo));
    });
    const scene = { cells, sampleIds };
    const q = ask(o.families[Math.floor(r() * o.families.length)], scene, r, o.phrasing);
    if (!q) {
      if (++unanswered > 10_000)
        throw new Error(
          `mnist-vqa: 10,000 scenes in a row suit none of the families ${o.families.join(', ')} (digit weights ${JSON.stringify(o.digitWeights ?? 'uniform')}, empty ${o.empty ?? 0.25})`,
        );
      continue;
    }
    unanswered = 0;
    const choices = familyAnswers(q.family).filter((a) => a !== q.answer);
    const annotators = Array.from({ length: 10 }, () =>
      answer(r() < noise ? choices[Math.floor(r() * choices.length)] : q.answer),
    );
    const tokens = new Int32Array(QLEN);
    const mask = new Float32Array(QLEN);
    q.words.forEach((w, i) => {
      tokens[i] = word(w);
      mask[i] = 1;
    });
    examples.push({
      image: render(scene, shift ? cells.map(() => [draw(), draw()]) : undefined),
      tokens,
      mask,
      targets: softTargets(annotators, ANSWERS.length),
    });
    scenes.push(scene);
    questions.push(q);
    annotations.push(annotators.map((a) => ANSWERS[a]));
  }
  return { examples, scenes, questions, annotations };
}
