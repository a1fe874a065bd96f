/**
 * A synthetic visual question answering task small enough for lavapipe: 16x16 images with one
 * bright 8x8 quadrant over noise, and two question types, "which quadrant is bright?" and
 * "is quadrant q bright?". Ten simulated annotators answer each question; 10% of them answer
 * at random, so VQA soft-score accuracy is meaningful.
 */
import { prng } from '../src/runtime/init.ts';
import { softTargets } from '../src/runtime/metrics.ts';
import type { Dataset } from '../src/runtime/batches.ts';

export const IMAGE = 16;
/** Tokens: 0 = "which", 1 = "is", 2..5 = quadrant names, 6 = "bright", 7 = pad. */
export const VOCAB = 8;
export const QLEN = 3;
/** Answers: 0..3 = quadrant, 4 = yes, 5 = no. */
export const ANSWERS = 6;

export function quadrants(n: number, seed: number): Dataset {
  const r = prng(seed);
  const examples = [];
  for (let i = 0; i < n; i++) {
    const bright = Math.floor(r() * 4);
    const image = new Float32Array(IMAGE * IMAGE);
    for (let y = 0; y < IMAGE; y++)
      for (let x = 0; x < IMAGE; x++) {
        const q = (y >= IMAGE / 2 ? 2 : 0) + (x >= IMAGE / 2 ? 1 : 0);
        image[y * IMAGE + x] = (q === bright ? 0.8 : 0.2) + 0.3 * (r() - 0.5);
      }
    const which = r() < 0.5;
    const asked = Math.floor(r() * 4);
    const tokens = which ? Int32Array.of(0, 6, 7) : Int32Array.of(1, 2 + asked, 6);
    const mask = which ? Float32Array.of(1, 1, 0) : Float32Array.of(1, 1, 1);
    const truth = which ? bright : asked === bright ? 4 : 5;
    const annotators = Array.from({ length: 10 }, () => (r() < 0.1 ? Math.floor(r() * ANSWERS) : truth));
    examples.push({ image, tokens, mask, targets: softTargets(annotators, ANSWERS) });
  }
  return { examples };
}
