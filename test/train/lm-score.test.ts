/**
 * Decoder-LM scoring on the host (train/lm-score.ts) against the graph's own next-token loss on
 * the Float64 reference interpreter: the same positions, labels and weights, with and without a
 * visual prefix; a padded batch counts only its real rows.
 */
import { describe, expect, it } from 'vitest';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { vl } from '../../src/dsl/index.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { emptyScore, scoreNextTokens } from '../../src/train/lm-score.ts';
import { draw, rng } from '../helpers/random.ts';

const [B, L, V] = [3, 5, 11];

function model(prefix: boolean) {
  const text = vl.decoder({ vocab: V, maxLen: L, width: 8, depth: 1, heads: 2 });
  const spec = prefix
    ? vl.model({
        vision: vl.vit({ image: [4, 4], patch: 2, width: 8, depth: 1, heads: 2 }),
        text,
        visualPrefix: 'pooled',
        head: vl.lm(),
      }).spec
    : vl.model({ text, head: vl.lm() }).spec;
  const { graph } = lowerModel(spec, { batch: B, mode: 'infer', loss: true });
  const r = rng(prefix ? 2 : 1);
  const tokens = draw(r, [B, L], { int: V }, 'i32');
  const mask = Value.of([B, L], [1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0]);
  const inputs: Record<string, Value> = { tokens, mask };
  if (prefix) inputs.image = draw(r, [B, 1, 4, 4]);
  const params = Object.fromEntries(
    Object.entries(initialWeights(graph, 5)).map(([k, v]) => [k, Value.of(graph.leaf('param', k)!.shape, [...v])]),
  );
  const out = evaluate(graph, { params, inputs }, ['logits', 'loss_task']);
  return { logits: out.logits.data, loss: out.loss_task.data[0], tokens: tokens.data, mask: mask.data };
}

describe('next-token scores of a decoder LM', () => {
  for (const prefix of [false, true]) {
    it(`equal the graph's loss (reference interpreter), ${prefix ? 'after a visual prefix' : 'without a prefix'}`, () => {
      const m = model(prefix);
      const s = emptyScore();
      scoreNextTokens(s, m.logits, m.tokens, m.mask, B, B, V);
      expect(s.nll / s.tokens).toBeCloseTo(m.loss, 10);
      // Tokens scored: those the mask keeps, less the first of each row when nothing predicts it.
      expect(s.tokens).toBe(prefix ? 11 : 8);
      expect(s.examples).toBe(B);
      expect(s.correct).toBeLessThanOrEqual(s.tokens);
    });
  }

  it('a padded batch counts its real rows only', () => {
    const m = model(true);
    const all = emptyScore();
    scoreNextTokens(all, m.logits, m.tokens, m.mask, B, B, V);
    const two = emptyScore();
    scoreNextTokens(two, m.logits, m.tokens, m.mask, B, 2, V);
    expect(two.examples).toBe(2);
    expect(two.tokens).toBe(all.tokens - 3);
  });
});
