/**
 * Caption metrics under the names users know from the MS COCO caption evaluation
 * (coco-caption): BLEU-1..4, ROUGE-L and CIDEr-D, each over a corpus of images with one
 * candidate and several references. Sentences are compared as the evaluation compares them:
 * tokenized by its PTB rules, lower-cased, punctuation removed (ptb-tokenize.ts). Checked
 * against an independent Python implementation (scripts/fixtures/caption_metrics.py).
 */
import { ptbTokenize } from './ptb-tokenize.ts';

export interface CaptionScores {
  BLEU_1: number;
  BLEU_2: number;
  BLEU_3: number;
  BLEU_4: number;
  ROUGE_L: number;
  CIDEr_D: number;
  /** Per image, in the order given. */
  perImage: { ROUGE_L: number[]; CIDEr_D: number[] };
}

/** One image: a generated caption and its references (raw text; tokenized here). */
export interface CaptionExample {
  candidate: string;
  references: string[];
}

type Counts = Map<string, number>;

/** Counts of the n-grams of `words` for n = 1..N, keyed by n and the words. */
function ngrams(words: string[], N = 4): Counts[] {
  const out: Counts[] = [];
  for (let n = 1; n <= N; n++) {
    const c: Counts = new Map();
    for (let i = 0; i + n <= words.length; i++) {
      const key = words.slice(i, i + n).join(' ');
      c.set(key, (c.get(key) ?? 0) + 1);
    }
    out.push(c);
  }
  return out;
}

/**
 * Corpus BLEU-1..4 as coco-caption computes it: clipped n-gram matches summed over the corpus,
 * the effective reference length of each image the one closest to its candidate's (ties to the
 * shorter), the brevity penalty on the corpus lengths, and its 1e-15 / 1e-9 smoothing.
 */
export function bleu(images: { candidate: string[]; references: string[][] }[]): number[] {
  const correct = [0, 0, 0, 0];
  const guess = [0, 0, 0, 0];
  let testLen = 0;
  let refLen = 0;
  for (const { candidate, references } of images) {
    const mine = ngrams(candidate);
    const refs = references.map((r) => ngrams(r));
    for (let n = 0; n < 4; n++) {
      guess[n] += Math.max(0, candidate.length - n);
      for (const [g, c] of mine[n]) correct[n] += Math.min(c, Math.max(0, ...refs.map((r) => r[n].get(g) ?? 0)));
    }
    testLen += candidate.length;
    const lens = references.map((r) => r.length);
    refLen += lens.reduce((best, l) => {
      const [db, dl] = [Math.abs(best - candidate.length), Math.abs(l - candidate.length)];
      return dl < db || (dl === db && l < best) ? l : best;
    });
  }
  const [tiny, small] = [1e-15, 1e-9];
  const ratio = (testLen + tiny) / (refLen + small);
  const penalty = ratio < 1 ? Math.exp(1 - 1 / ratio) : 1;
  return [1, 2, 3, 4].map((N) => {
    let p = 1;
    for (let k = 0; k < N; k++) p *= (correct[k] + tiny) / (guess[k] + small);
    return p ** (1 / N) * penalty;
  });
}

/** Length of the longest common subsequence of two token lists. */
function lcs(a: string[], b: string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    const row = [0];
    for (let j = 1; j <= b.length; j++) row.push(x === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1]));
    prev = row;
  }
  return prev[b.length];
}

/** ROUGE-L of one image (Lin 2004; beta 1.2 as coco-caption): best precision and best recall over the references, combined. */
export function rougeL(candidate: string[], references: string[][], beta = 1.2): number {
  if (!candidate.length) return 0;
  let p = 0;
  let r = 0;
  for (const ref of references) {
    const l = lcs(candidate, ref);
    p = Math.max(p, l / candidate.length);
    r = Math.max(r, ref.length ? l / ref.length : 0);
  }
  return p && r ? ((1 + beta ** 2) * p * r) / (r + beta ** 2 * p) : 0;
}

/**
 * CIDEr-D per image (Vedantam et al. 2015, coco-caption's variant): tf-idf vectors of the
 * 1..4-grams with document frequencies from the evaluated references, the candidate's weights
 * clipped by each reference's, a Gaussian penalty on the length difference (sigma 6), the mean
 * over n and references, times 10.
 */
export function ciderD(images: { candidate: string[]; references: string[][] }[], sigma = 6): number[] {
  const df = new Map<string, number>();
  for (const { references } of images) {
    const seen = new Set<string>();
    for (const r of references) for (const c of ngrams(r)) for (const g of c.keys()) seen.add(g);
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  }
  const logN = Math.log(images.length);
  const vector = (words: string[]) => {
    const vec = ngrams(words).map(
      (c) => new Map([...c].map(([g, tf]) => [g, tf * (logN - Math.log(Math.max(1, df.get(g) ?? 0)))])),
    );
    return {
      vec,
      norm: vec.map((v) => Math.sqrt([...v.values()].reduce((s, x) => s + x * x, 0))),
      length: words.length,
    };
  };
  return images.map(({ candidate, references }) => {
    const c = vector(candidate);
    let total = 0;
    for (const ref of references) {
      const r = vector(ref);
      const penalty = Math.exp(-((c.length - r.length) ** 2) / (2 * sigma ** 2));
      for (let n = 0; n < 4; n++) {
        let v = 0;
        for (const [g, w] of c.vec[n]) {
          const wr = r.vec[n].get(g) ?? 0;
          v += Math.min(w, wr) * wr;
        }
        if (c.norm[n] !== 0 && r.norm[n] !== 0) v /= c.norm[n] * r.norm[n];
        total += v * penalty;
      }
    }
    return ((total / 4) * 10) / references.length;
  });
}

/** Every metric over a corpus of raw captions, tokenized as the COCO evaluation tokenizes them. */
export function captionScores(examples: CaptionExample[]): CaptionScores {
  if (!examples.length) throw new Error('caption metrics: no images to score');
  const images = examples.map((e, i) => {
    if (!e.references.length) throw new Error(`caption metrics: image ${i} has no reference captions`);
    return { candidate: ptbTokenize(e.candidate), references: e.references.map(ptbTokenize) };
  });
  return scoreTokenized(images);
}

/** The metrics over already tokenized sentences (token lists). */
export function scoreTokenized(images: { candidate: string[]; references: string[][] }[]): CaptionScores {
  const [b1, b2, b3, b4] = bleu(images);
  const rouge = images.map((im) => rougeL(im.candidate, im.references));
  const cider = ciderD(images);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  return {
    BLEU_1: b1,
    BLEU_2: b2,
    BLEU_3: b3,
    BLEU_4: b4,
    ROUGE_L: mean(rouge),
    CIDEr_D: mean(cider),
    perImage: { ROUGE_L: rouge, CIDEr_D: cider },
  };
}

/** One line of caption scores, as train and eval print them. */
export function formatCaptionScores(split: string, s: Omit<CaptionScores, 'perImage'>): string {
  const f = (x: number) => x.toFixed(4);
  return `${split}: BLEU-1 ${f(s.BLEU_1)}, BLEU-2 ${f(s.BLEU_2)}, BLEU-3 ${f(s.BLEU_3)}, BLEU-4 ${f(s.BLEU_4)}, ROUGE-L ${f(s.ROUGE_L)}, CIDEr-D ${f(s.CIDEr_D)}`;
}
