/** initialWeights: given values win, the rest from their initializers, derived params from what they derive from. */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { initialValues, initialWeights } from '../../src/runtime/init.ts';

describe('initialWeights', () => {
  const graph = () => {
    const b = new Builder();
    b.param('W', [3, 2], { trainable: false, init: { kind: 'uniform', bound: 1 } });
    b.param('m', [2], { trainable: true, init: { kind: 'derived', from: 'W', rule: 'columnNorm' } });
    b.param('u', [4], { trainable: true, init: { kind: 'normal', std: 1 } });
    return b.g;
  };

  it('derives a column norm from the given (pretrained) value, in float64 by hand', () => {
    const W = Float32Array.from([1, 2, 3, 4, 5, 6]); // [3, 2]: columns (1, 3, 5) and (2, 4, 6)
    const w = initialWeights(graph(), 7, { W });
    expect(w.W).toBe(W);
    expect([...w.m]).toEqual([Math.fround(Math.sqrt(35)), Math.fround(Math.sqrt(56))]);
    expect(w.u).toHaveLength(4);
  });

  it('derives from the initialized value when none is given; stacked weights get one norm per leading index', () => {
    const w = initialWeights(graph(), 7);
    const W = w.W;
    expect(w.m[0]).toBeCloseTo(Math.hypot(W[0], W[2], W[4]), 6);
    const stacked = initialValues(
      [
        { name: 'E', shape: [2, 2, 2], init: { kind: 'ones' } },
        { name: 'n', shape: [2, 2], init: { kind: 'derived', from: 'E', rule: 'columnNorm' } },
      ],
      1,
    );
    expect([...stacked.n]).toEqual([Math.SQRT2, Math.SQRT2, Math.SQRT2, Math.SQRT2].map(Math.fround));
  });

  it('a param not given keeps the value of its own stream: giving others does not reshuffle it', () => {
    expect([...initialWeights(graph(), 7, { W: new Float32Array(6) }).u]).toEqual([...initialWeights(graph(), 7).u]);
  });

  it('a derived param whose source is missing, or whose shape does not fit, is an error naming both', () => {
    expect(() =>
      initialValues([{ name: 'm', shape: [2], init: { kind: 'derived', from: 'nope', rule: 'columnNorm' } }], 1),
    ).toThrow("param 'm' is derived from 'nope', which is no param of this model and not among the given weights");
    expect(() =>
      initialValues(
        [
          { name: 'W', shape: [3, 2], init: { kind: 'ones' } },
          { name: 'm', shape: [3], init: { kind: 'derived', from: 'W', rule: 'columnNorm' } },
        ],
        1,
      ),
    ).toThrow('columnNorm: a [3,2] weight has 2 column norms, the param is [3]');
  });
});
