/**
 * Evaluation scores do not depend on how a split is batched: the loss is taken per example on the
 * host (a padded last batch counts only its real rows) and equals the graph's own loss on the
 * Float64 reference; exact match needs an answer among the classes; a split without any is refused.
 */
import { describe, expect, it } from 'vitest';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { vl } from '../../src/dsl/index.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { exactMatch } from '../../src/runtime/metrics.ts';
import { Evaluator } from '../../src/train/trainer.ts';
import { useGpu } from '../helpers/gpu.ts';
import { rng } from '../helpers/random.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

const N = 5;

function data(loss: 'bce' | 'ce') {
  const spec = vl.model({ ...tinyVl().spec, head: vl.classifier({ answers: 6, loss }) }).spec;
  const r = rng(31);
  const examples = Array.from({ length: N }, (_, i) => {
    const e: Record<string, Float32Array | Int32Array> = {
      image: Float32Array.from({ length: 16 * 16 }, () => r() - 0.5),
      tokens: Int32Array.from([1, 2 + (i % 5), 3]),
      mask: Float32Array.from([1, 1, i % 2]),
    };
    if (loss === 'bce') e.targets = Float32Array.from({ length: 6 }, (_, a) => (a === i % 6 ? 1 : a === 2 ? 0.3 : 0));
    else e.labels = Int32Array.from([i % 6]);
    return e;
  });
  return { spec, ds: { examples } };
}

describe('evaluation is independent of the batch size', () => {
  const gpu = useGpu();

  for (const loss of ['bce', 'ce'] as const) {
    it(`${loss}: the same loss, accuracy and exact match at batch 2, 3 and 5, and the reference's loss`, async () => {
      const { spec, ds } = data(loss);
      const { graph } = lowerModel(spec, { batch: N, mode: 'infer', loss: true });
      const weights = initialWeights(graph, 4);
      const results = [];
      for (const batch of [2, 3, 5]) {
        const ev = await Evaluator.create(gpu(), spec, batch);
        try {
          ev.setWeights(weights);
          results.push(await ev.evaluate(ds, 'dev'));
        } finally {
          ev.destroy();
        }
      }
      for (const r of results.slice(1)) {
        expect(r.loss).toBeCloseTo(results[0].loss, 5);
        expect(r.accuracy).toBe(results[0].accuracy);
        expect(r.exactMatch).toBe(results[0].exactMatch);
      }
      // The whole split as one batch on the Float64 reference: its mean loss.
      const cat = (k: string) => {
        const parts = ds.examples.map((e) => [...e[k]]);
        return parts.flat();
      };
      const inputs: Record<string, Value> = {};
      for (const [k, n] of graph.inputs()) inputs[k] = Value.of(n.shape, cat(k), n.dtype);
      const params = Object.fromEntries(
        Object.entries(weights).map(([k, v]) => [k, Value.of(graph.leaf('param', k)!.shape, [...v])]),
      );
      const want = evaluate(graph, { params, inputs }, ['loss_task']).loss_task.data[0];
      expect(results[0].loss).toBeCloseTo(want, 4);
    });
  }

  it('exact match needs an answer among the classes; a split with none is refused, not scored as zeros', async () => {
    // Two examples: the first's answers are all outside the classes (a zero row), the second's is class 0.
    const logits = [5, 0, 0, 5, 0, 0];
    expect(exactMatch(logits, [0, 0, 0, 1, 0, 0], 3, 2)).toBe(0.5);
    const { spec, ds } = data('bce');
    for (const e of ds.examples) e.targets = new Float32Array(6);
    const ev = await Evaluator.create(gpu(), spec, 2);
    try {
      ev.setWeights(initialWeights(lowerModel(spec, { batch: 2, mode: 'infer' }).graph, 4));
      await expect(ev.evaluate(ds, 'test')).rejects.toThrow(
        /test: no example has an answer among the 6 answer classes/,
      );
    } finally {
      ev.destroy();
    }
  });
});
