/** Composite ops: values against direct formulas, gradients end to end against finite differences. */
import { describe, expect, it } from 'vitest';
import { Builder, type Tensor } from '../../src/compiler/builder.ts';
import {
  attention,
  bceWithLogits,
  crossEntropy,
  kron,
  layerNorm,
  logSoftmax,
  softmax,
} from '../../src/compiler/composites.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { gradCheck } from '../helpers/gradcheck.ts';
import { draw, rng } from '../helpers/random.ts';

const trainable = { trainable: true, init: { kind: 'zeros' as const } };

/** Builds loss = sum(f(params) * w) and gradient-checks it. */
function check(
  shapes: Record<string, number[]>,
  f: (b: Builder, p: Record<string, Tensor>) => Tensor,
  extra?: (b: Builder) => Record<string, Value>,
) {
  const r = rng(5);
  const b = new Builder();
  const params: Record<string, Value> = {};
  const p: Record<string, Tensor> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    params[name] = draw(r, shape);
    p[name] = b.param(name, shape, trainable);
  }
  const inputs = extra?.(b) ?? {};
  const y = f(b, p);
  const w = draw(r, y.shape);
  b.output('loss', y.mul(b.constant([...w.data], y.shape)).sum());
  gradCheck(b.g, { params, inputs });
  return { b, params, inputs };
}

describe('composites', () => {
  it('softmax rows sum to one and match exp/sum', () => {
    const b = new Builder();
    const x = b.input('x', [2, 3]);
    b.output('s', softmax(b, x));
    b.output('ls', logSoftmax(b, x));
    const xv = Value.of([2, 3], [1, 2, 3, -1, 0, 1000]);
    const { s, ls } = evaluate(b.g, { inputs: { x: xv } });
    const e = [1, 2, 3].map(Math.exp);
    const z = e.reduce((a, c) => a + c);
    expect(s.data[0]).toBeCloseTo(e[0] / z, 14);
    expect(s.data[5]).toBeCloseTo(1, 14); // stable at large logits
    expect(ls.data[2]).toBeCloseTo(Math.log(e[2] / z), 14);
  });

  it('kron matches the definition', () => {
    const b = new Builder();
    b.output('k', kron(b, b.input('a', [2, 2]), b.input('c', [1, 2])));
    const { k } = evaluate(b.g, { inputs: { a: Value.of([2, 2], [1, 2, 3, 4]), c: Value.of([1, 2], [10, 1]) } });
    expect(k.shape).toEqual([2, 4]);
    expect([...k.data]).toEqual([10, 1, 20, 2, 30, 3, 40, 4]);
  });

  it('layer norm normalizes', () => {
    const b = new Builder();
    b.output('y', layerNorm(b, b.input('x', [1, 4]), b.constant(1, [4]), b.constant(0, [4]), 0));
    const { y } = evaluate(b.g, { inputs: { x: Value.of([1, 4], [1, 2, 3, 4]) } });
    const mean = y.data.reduce((a, c) => a + c) / 4;
    const v = y.data.reduce((a, c) => a + c * c, 0) / 4;
    expect(mean).toBeCloseTo(0, 12);
    expect(v).toBeCloseTo(1, 12);
  });

  it('bce with logits equals the direct formula', () => {
    const b = new Builder();
    b.output('l', bceWithLogits(b, b.input('z', [1, 2]), b.input('t', [1, 2])));
    const { l } = evaluate(b.g, { inputs: { z: Value.of([1, 2], [0.3, -2]), t: Value.of([1, 2], [1, 0.25]) } });
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    const want = -Math.log(sig(0.3)) - (0.25 * Math.log(sig(-2)) + 0.75 * Math.log(1 - sig(-2)));
    expect(l.data[0]).toBeCloseTo(want, 12);
  });

  it('gradients: softmax', () => void check({ x: [2, 5] }, (b, p) => softmax(b, p.x)));
  it('gradients: log-softmax', () => void check({ x: [3, 4] }, (b, p) => logSoftmax(b, p.x)));
  it('gradients: layer norm', () => void check({ x: [3, 6], g: [6], c: [6] }, (b, p) => layerNorm(b, p.x, p.g, p.c)));
  it('gradients: kron', () => void check({ a: [2, 3], c: [4, 2] }, (b, p) => kron(b, p.a, p.c)));
  it('gradients: cross-entropy', () =>
    void check(
      { z: [4, 5] },
      (b, p) => crossEntropy(b, p.z, b.input('y', [4], 'i32')),
      () => ({ y: Value.of([4], [0, 4, 2, 2], 'i32') }),
    ));
  it('gradients: BCE on soft targets', () =>
    void check(
      { z: [3, 4] },
      (b, p) => bceWithLogits(b, p.z, b.input('t', [3, 4])),
      () => ({
        t: Value.of(
          [3, 4],
          draw(rng(1), [3, 4], 'positive').data.map((x) => x / 2),
        ),
      }),
    ));
  it('gradients: multi-head attention with key mask', () =>
    void check(
      { q: [2, 3, 4], k: [2, 5, 4], v: [2, 5, 4] },
      (b, p) => attention(b, { q: p.q, k: p.k, v: p.v, heads: 2, keyMask: b.input('m', [2, 5]) }),
      () => ({ m: Value.of([2, 5], [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]) }),
    ));
  it('gradients: causal self-attention', () =>
    void check({ x: [1, 4, 6] }, (b, p) => attention(b, { q: p.x, k: p.x, v: p.x, heads: 3, causal: true })));

  it('attention ignores masked keys', () => {
    const b = new Builder();
    const q = b.input('q', [1, 1, 2]);
    const k = b.input('k', [1, 2, 2]);
    const v = b.input('v', [1, 2, 2]);
    b.output('o', attention(b, { q, k, v, heads: 1, keyMask: b.input('m', [1, 2]) }));
    const feeds = {
      q: Value.of([1, 1, 2], [1, 0]),
      k: Value.of([1, 2, 2], [1, 0, 5, 5]),
      v: Value.of([1, 2, 2], [1, 2, 30, 40]),
      m: Value.of([1, 2], [1, 0]),
    };
    const { o } = evaluate(b.g, { inputs: feeds });
    expect([...o.data].map((x) => +x.toFixed(9))).toEqual([1, 2]);
  });
});
