/**
 * Datasets checked against the model before any GPU work: issue 14's reproductions (silently
 * zero-filled inputs, out-of-vocabulary ids, malformed splits) each end in an error naming the
 * split, the example, the input and the value.
 */
import { describe, expect, it } from 'vitest';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { parseSpec } from '../../src/dsl/spec.ts';
import { validateDataset } from '../../src/train/validate.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

const spec = tinyVl().spec; // image [1, 16, 16], tokens/mask [3], vocab 8, 6 answers
const graph = lowerModel(spec, { batch: 2, mode: 'train' }).graph;
const good = () => ({
  image: new Float32Array(256).fill(0.5),
  tokens: Int32Array.from([1, 2, 0]),
  mask: Float32Array.from([1, 1, 0]),
  targets: Float32Array.from([1, 0, 0.3, 0, 0, 0]),
});
const check =
  (examples: unknown, g = graph, s = spec) =>
  () =>
    validateDataset('train', { examples }, g, s);

describe('dataset validation', () => {
  it('accepts examples that hold exactly the model inputs', () => {
    expect(() => check([good(), good()])()).not.toThrow();
  });

  it('names unknown and missing inputs, with a did-you-mean', () => {
    const { image, ...rest } = good();
    expect(check([good(), { ...rest, imagee: image }])).toThrow(
      /train: example 1: 'imagee' is not an input of this model \(did you mean 'image'\?\); its inputs: image \[1x16x16\], tokens \[3\], mask \[3\], targets \[6\]/,
    );
    const { targets: _t, ...noTargets } = good();
    expect(check([noTargets])).toThrow(/train: example 0: no 'targets'/);
    const { mask: _m, ...noMask } = good();
    expect(check([noMask])).toThrow(/train: example 0: no 'mask'/);
  });

  it('a classification head trained with ce needs integer labels in range', () => {
    const ce = parseSpec({ ...spec, head: { kind: 'classifier', answers: 6, loss: 'ce' } });
    const g = lowerModel(ce, { batch: 2, mode: 'train' }).graph;
    const { targets: _t, ...ex } = good();
    expect(check([ex], g, ce)).toThrow(/no 'labels'/);
    expect(check([{ ...ex, labels: Int32Array.from([6]) }], g, ce)).toThrow(
      /'labels'\[0\] = 6 is not an integer id in \[0, 6\) \(the head has 6 answers\)/,
    );
  });

  it('refuses token ids outside the vocabulary, fractional or huge', () => {
    for (const bad of [8, 2.5, 1e10, -1e10]) {
      expect(check([{ ...good(), tokens: Float32Array.from([1, bad, 0]) }])).toThrow(
        new RegExp(`'tokens'\\[1\\] = ${String(bad).replace('+', '\\+')} is not an integer id in \\[0, 8\\)`),
      );
    }
  });

  it('refuses masks that are not 0/1 or keep nothing, non-finite pixels, targets outside [0, 1]', () => {
    expect(check([{ ...good(), mask: Float32Array.from([1, 0.5, 0]) }])).toThrow(/'mask'\[1\] = 0\.5 is not 0 or 1/);
    expect(check([{ ...good(), mask: new Float32Array(3) }])).toThrow(/'mask' keeps no token/);
    const img = good().image;
    img[7] = NaN;
    expect(check([{ ...good(), image: img }])).toThrow(/'image'\[7\] = NaN is not finite/);
    img[7] = 1e30;
    expect(check([{ ...good(), image: img }])).toThrow(/'image'\[7\] = 1\.0\d*e\+30 is no pixel value/);
    expect(check([{ ...good(), targets: Float32Array.from([1.5, 0, 0, 0, 0, 0]) }])).toThrow(
      /'targets'\[0\] = 1\.5 is outside \[0, 1\]/,
    );
    expect(check([{ ...good(), tokens: Int32Array.from([1, 2]) }])).toThrow(/'tokens' has 2 values, the model takes 3/);
  });

  it('refuses malformed and empty splits', () => {
    expect(() => validateDataset('dev', { examples: 'abc' }, graph, spec)).toThrow(
      /dev: a split is \{ examples: \[\.\.\.\] \}/,
    );
    expect(() => validateDataset('dev', [good()], graph, spec)).toThrow(/a bare list \(wrap it: \{ examples \}\)/);
    expect(() => validateDataset('dev', { examples: [] }, graph, spec)).toThrow(/dev: no examples/);
  });
});
