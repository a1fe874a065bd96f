/**
 * Generative VQA scoring of an encoder-decoder (VL-T5 style: embedded region prefix, T5 stacks,
 * 'lm' head) on WebGPU: greedy generations over the KV cache scored against an answer vocabulary, checked against
 * greedy decoding written out here over the Float64 reference interpreter, one example and one
 * position at a time.
 */
import { describe, expect, it } from 'vitest';
import { vl } from '../../src/dsl/index.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { Evaluator } from '../../src/train/trainer.ts';
import type { Dataset } from '../../src/runtime/batches.ts';
import { answerOf, scoreGeneratedTexts } from '../../src/train/generate.ts';
import { mostGiven } from '../../src/data/answers.ts';
import { useGpu } from '../helpers/gpu.ts';
import { rng } from '../helpers/random.ts';

const [V, L, T, N] = [9, 3, 3, 5];
const spec = vl.model({
  vision: vl.vit({ image: [8, 8], patch: 2, width: 8, depth: 1, heads: 2 }),
  text: vl.encdec({ vocab: V, maxLen: L, targetLen: T, width: 8, ffn: 16, encoderDepth: 1, decoderDepth: 1, heads: 2 }),
  visualPrefix: 'regions',
  visualRegions: [2, 2],
  visualEmbed: true,
  head: vl.lm(),
}).spec;

const r = rng(11);
const weights = Object.fromEntries(
  Object.entries(initialWeights(lowerModel(spec, { batch: 1, mode: 'infer' }).graph, 11)).map(([k, v]) => [
    k,
    Float32Array.from(v, (x) => x + r() - 0.5),
  ]),
);
const examples = Array.from({ length: N }, () => ({
  image: Float32Array.from({ length: 64 }, () => r()),
  tokens: Int32Array.from({ length: L }, () => 2 + Math.floor(r() * (V - 2))),
  mask: Float32Array.from([1, 1, r() < 0.5 ? 1 : 0]),
  targetTokens: Int32Array.from([0, 2 + Math.floor(r() * 7), 1]),
  targetLabels: Int32Array.from([2 + Math.floor(r() * 7), 1, 0]),
  targetMask: Float32Array.from([1, 1, 0]),
}));

/** Greedy decoding, example by example, position by position, on the reference interpreter (`feedBack` false: a broken decoder that never appends its tokens). */
function referenceGenerations(feedBack = true): number[][] {
  const { graph } = lowerModel(spec, { batch: 1, mode: 'infer', loss: false });
  const params = Object.fromEntries([...graph.params()].map(([k, n]) => [k, Value.of(n.shape, [...weights[k]])]));
  return examples.map((e) => {
    const dec = [0, 0, 0];
    const gen: number[] = [];
    for (let t = 0; t < T; t++) {
      const inputs = {
        image: Value.of([1, 1, 8, 8], [...e.image]),
        tokens: Value.of([1, L], [...e.tokens], 'i32'),
        mask: Value.of([1, L], [...e.mask]),
        targetTokens: Value.of([1, T], dec, 'i32'),
        targetMask: Value.of([1, T], [1, 1, 1]),
      };
      const logits = evaluate(graph, { inputs, params }).logits.data; // [1, T, V]
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[t * V + v] > logits[t * V + best]) best = v;
      gen.push(best);
      if (t + 1 < T && feedBack) dec[t + 1] = best;
    }
    return gen;
  });
}

describe('generative VQA scoring (encoder-decoder)', () => {
  const gpu = useGpu();

  it('scores greedy generations on WebGPU as greedy decoding on the reference interpreter does', async () => {
    const gens = referenceGenerations();
    // Answers: one generation cut after its first token (one answer with an end id the model
    // produced), the generation of example 2, and a sequence nobody generates: scores are then
    // decided by the generations, not by chance.
    // The end id: the second token of a generation whose first token differs from it, so that
    // one answer is that generation's first token then the end id.
    const k = gens.findIndex((g) => g[0] !== g[1]);
    expect(k, JSON.stringify(gens)).toBeGreaterThanOrEqual(0);
    const eos = gens[k][1];
    // Every answer ends with the end id (runtime/batches.ts): example 2's generation when it ends.
    const upToEos = (g: number[]) => (g.includes(eos) ? g.slice(0, g.indexOf(eos) + 1) : [...g, eos]);
    const tokens = [[gens[k][0], eos], upToEos(gens[2]), [V - 1, V - 1, eos]];
    const scores = examples.map(() => [r(), r(), r()]);
    const answers = { tokens, start: 0, scores };
    let want = 0;
    let em = 0;
    gens.forEach((g, i) => {
      const a = answerOf(g, answers);
      if (a >= 0) {
        want += scores[i][a];
        em += scores[i][a] === Math.max(...scores[i]) ? 1 : 0;
      }
    });
    expect(gens.filter((g) => answerOf(g, answers) >= 0).length).toBeGreaterThanOrEqual(1);
    // The weights make the generated tokens matter: a decoder that did not feed them back would differ.
    expect(referenceGenerations(false)).not.toEqual(gens);
    const ev = await Evaluator.create(gpu(), spec, 2); // 5 examples in batches of 2: the last one padded
    try {
      ev.setWeights(weights);
      const ds: Dataset = { examples, answers };
      // Over the KV cache: the same tokens, through the first end-of-sequence (none after it).
      expect(await ev.generate(ds, 0, eos)).toEqual(gens.map((g) => (g.includes(eos) ? upToEos(g) : g)));
      const got = await ev.evaluate(ds);
      expect(got.accuracy).toBeCloseTo(want / N, 6);
      expect(got.exactMatch).toBeCloseTo(em / N, 6);
      expect(Number.isFinite(got.loss)).toBe(true);
      await expect(ev.evaluate({ examples })).rejects.toThrow(/needs answers \{ tokens, start, scores \}/);
      await expect(ev.evaluate({ examples, answers: { ...answers, tokens: [[1, 2], [3]] } })).rejects.toThrow(
        /every answer's tokens must end with one end-of-sequence id/,
      );
    } finally {
      ev.destroy();
    }
  });

  it('answerOf: a generation is the answer whose ids (end id included) it starts with', () => {
    const answers = {
      tokens: [
        [3, 1],
        [3, 4, 1],
      ],
      start: 0,
      scores: [],
    };
    expect(answerOf([3, 1, 7], answers)).toBe(0);
    expect(answerOf([3, 4, 1], answers)).toBe(1);
    expect(answerOf([3, 4, 5], answers)).toBe(-1);
    expect(answerOf([3], answers)).toBe(-1);
  });
});

describe('generated texts scored as VQA scores answers', () => {
  it('normalizes both sides, scores min(1, matches / 3), and matches exactly the most given answer', () => {
    const given = [
      ['two', 'two', '2', 'three', 'three', 'three', 'three', 'three', 'three', 'three'],
      ['Yes', 'yes', 'no', 'no', 'no', 'no', 'no', 'no', 'no', 'no'],
      ['a dog', 'dog', 'the dog', 'cat', 'cat', 'cat', 'cat', 'cat', 'cat', 'cat'],
      ['red', 'red', 'red', 'red', 'blue', 'blue', 'blue', 'blue', 'blue', 'blue'],
    ];
    // "Two" and "2" are one answer (3 annotators: 1); "yes." 2 annotators (2/3); "dog" 3 (1);
    // "purple" none (0). Exact: the first is not the most given ("3"); none of the others are.
    const r = scoreGeneratedTexts(['Two', 'yes.', 'dog', 'purple'], given);
    expect(r.accuracy).toBeCloseTo((1 + 2 / 3 + 1 + 0) / 4, 12);
    expect(r.exactMatch).toBe(0);
    expect(scoreGeneratedTexts(['3', 'no'], given.slice(0, 2))).toEqual({ accuracy: 1, exactMatch: 1 });
    expect(mostGiven(['a', 'b', 'b', 'a'])).toBe('a');
  });
});
