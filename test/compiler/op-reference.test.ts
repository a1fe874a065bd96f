/** Each op's Float64 reference against small cases checked by hand. */
import type { OpName } from '../../src/compiler/ir/op-names.ts';
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { allOps } from '../../src/compiler/ops/index.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { erf } from '../../src/compiler/ops/math.ts';
import type { Attrs, DType } from '../../src/compiler/ir/graph.ts';
import { uniformAt } from '../../src/compiler/ops/random.ts';

type Case = { inputs: [number[], number[], DType?][]; attrs?: Attrs; shape: number[]; expect: number[] };
const v = (shape: number[], data: number[], dtype?: DType): [number[], number[], DType?] => [shape, data, dtype];

const g = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const cases: Partial<Record<OpName, Case[]>> = {
  neg: [{ inputs: [v([2], [1, -2])], shape: [2], expect: [-1, 2] }],
  exp: [{ inputs: [v([2], [0, 1])], shape: [2], expect: [1, Math.E] }],
  log: [{ inputs: [v([2], [1, Math.E])], shape: [2], expect: [0, 1] }],
  sqrt: [{ inputs: [v([2], [4, 9])], shape: [2], expect: [2, 3] }],
  rsqrt: [{ inputs: [v([2], [4, 0.25])], shape: [2], expect: [0.5, 2] }],
  tanh: [{ inputs: [v([2], [0, 100])], shape: [2], expect: [0, 1] }],
  sigmoid: [{ inputs: [v([2], [0, Math.log(3)])], shape: [2], expect: [0.5, 0.75] }],
  erf: [
    {
      inputs: [v([4], [0, 0.5, -1, 3.5])],
      shape: [4],
      expect: [0, 0.5204998778130465, -0.8427007929497149, 0.9999992569016276],
    },
  ],
  relu: [{ inputs: [v([3], [-1, 0, 2])], shape: [3], expect: [0, 0, 2] }],
  gelu: [{ inputs: [v([3], [-1, 0, 1])], shape: [3], expect: [g(-1), 0, g(1)] }],
  abs: [{ inputs: [v([2], [-3, 2])], shape: [2], expect: [3, 2] }],
  sign: [{ inputs: [v([3], [-3, 0, 2])], shape: [3], expect: [-1, 0, 1] }],
  add: [{ inputs: [v([2, 1], [1, 2]), v([3], [10, 20, 30])], shape: [2, 3], expect: [11, 21, 31, 12, 22, 32] }],
  sub: [{ inputs: [v([2], [5, 7]), v([], [1])], shape: [2], expect: [4, 6] }],
  mul: [{ inputs: [v([2, 2], [1, 2, 3, 4]), v([2], [10, 100])], shape: [2, 2], expect: [10, 200, 30, 400] }],
  div: [{ inputs: [v([2], [1, 3]), v([2], [2, 4])], shape: [2], expect: [0.5, 0.75] }],
  max: [{ inputs: [v([3], [1, 5, 3]), v([3], [4, 2, 3])], shape: [3], expect: [4, 5, 3] }],
  min: [{ inputs: [v([3], [1, 5, 3]), v([3], [4, 2, 3])], shape: [3], expect: [1, 2, 3] }],
  pow: [{ inputs: [v([2], [2, 9]), v([2], [3, 0.5])], shape: [2], expect: [8, 3] }],
  eq: [{ inputs: [v([3], [1, 2, 3]), v([3], [1, 0, 3])], shape: [3], expect: [1, 0, 1] }],
  ne: [{ inputs: [v([3], [1, 2, 3]), v([3], [1, 0, 3])], shape: [3], expect: [0, 1, 0] }],
  lt: [{ inputs: [v([3], [1, 2, 3]), v([], [2])], shape: [3], expect: [1, 0, 0] }],
  le: [{ inputs: [v([3], [1, 2, 3]), v([], [2])], shape: [3], expect: [1, 1, 0] }],
  gt: [{ inputs: [v([3], [1, 2, 3]), v([], [2])], shape: [3], expect: [0, 0, 1] }],
  ge: [{ inputs: [v([3], [1, 2, 3]), v([], [2])], shape: [3], expect: [0, 1, 1] }],
  where: [{ inputs: [v([3], [1, 0, 1]), v([3], [1, 2, 3]), v([], [9])], shape: [3], expect: [1, 9, 3] }],
  cast: [
    { inputs: [v([3], [1.7, -1.7, 2])], attrs: { dtype: 'i32' }, shape: [3], expect: [1, -1, 2] },
    { inputs: [v([2], [3, 4], 'i32')], attrs: { dtype: 'f32' }, shape: [2], expect: [3, 4] },
  ],
  sum: [
    { inputs: [v([2, 3], [1, 2, 3, 4, 5, 6])], attrs: { axes: [1], keepdims: false }, shape: [2], expect: [6, 15] },
    { inputs: [v([2, 3], [1, 2, 3, 4, 5, 6])], attrs: { axes: [0], keepdims: true }, shape: [1, 3], expect: [5, 7, 9] },
  ],
  // exp(0) : exp(ln 2) : exp(ln 5) = 1 : 2 : 5, and a row of equal values is uniform.
  // Rows [1, 2, 3] and [0, 3, 6]: centred [-1, 0, 1] and [-3, 0, 3], variances 2/3 and 6.
  layernorm: [
    {
      inputs: [v([2, 3], [1, 2, 3, 0, 3, 6])],
      attrs: { eps: 0 },
      shape: [2, 3],
      expect: [-Math.sqrt(1.5), 0, Math.sqrt(1.5), -Math.sqrt(1.5), 0, Math.sqrt(1.5)],
    },
    { inputs: [v([1, 2], [1, 3])], attrs: { eps: 1 }, shape: [1, 2], expect: [-Math.SQRT1_2, Math.SQRT1_2] },
  ],
  // x = [1, 2, 3] (xhat = a [-1, 0, 1], rstd = a = sqrt(1.5)), g = [1, 0, 0]: mean(g) = 1/3,
  // mean(g xhat) = -a/3, so dx = a ([1, 0, 0] - 1/3 + xhat a/3) = a [1/6, -1/3, 1/6]; g = 1 gives 0.
  layernorm_grad: [
    {
      inputs: [v([2, 3], [1, 2, 3, 1, 2, 3]), v([2, 3], [1, 0, 0, 1, 1, 1])],
      attrs: { eps: 0 },
      shape: [2, 3],
      expect: [Math.sqrt(1.5) / 6, -Math.sqrt(1.5) / 3, Math.sqrt(1.5) / 6, 0, 0, 0],
    },
  ],
  // [3, 4]: mean square 12.5.
  rmsnorm: [
    {
      inputs: [v([1, 2], [3, 4])],
      attrs: { eps: 0 },
      shape: [1, 2],
      expect: [3 / Math.sqrt(12.5), 4 / Math.sqrt(12.5)],
    },
  ],
  // x = [3, 4], g = [1, 0]: r = 1/sqrt(12.5), mean(g x) = 1.5, dx = r ([1, 0] - x r^2 1.5) = r [0.64, -0.48].
  rmsnorm_grad: [
    {
      inputs: [v([1, 2], [3, 4]), v([1, 2], [1, 0])],
      attrs: { eps: 0 },
      shape: [1, 2],
      expect: [0.64 / Math.sqrt(12.5), -0.48 / Math.sqrt(12.5)],
    },
  ],
  softmax: [
    {
      inputs: [v([2, 3], [0, Math.log(2), Math.log(5), 7, 7, 7])],
      shape: [2, 3],
      expect: [0.125, 0.25, 0.625, 1 / 3, 1 / 3, 1 / 3],
    },
  ],
  max_reduce: [
    { inputs: [v([2, 3], [1, 9, 3, 4, 5, -6])], attrs: { axes: [1], keepdims: false }, shape: [2], expect: [9, 5] },
  ],
  matmul: [
    {
      inputs: [v([2, 2], [1, 2, 3, 4]), v([2, 1], [5, 6])],
      attrs: { transA: false, transB: false },
      shape: [2, 1],
      expect: [17, 39],
    },
    {
      inputs: [v([2, 2], [1, 2, 3, 4]), v([1, 2], [5, 6])],
      attrs: { transA: true, transB: true },
      shape: [2, 1],
      expect: [23, 34],
    },
    {
      inputs: [v([2, 1, 2], [1, 0, 0, 1]), v([2, 2], [1, 2, 3, 4])],
      attrs: { transA: false, transB: false },
      shape: [2, 1, 2],
      expect: [1, 2, 3, 4],
    },
  ],
  reshape: [{ inputs: [v([2, 2], [1, 2, 3, 4])], attrs: { shape: [4] }, shape: [4], expect: [1, 2, 3, 4] }],
  permute: [
    { inputs: [v([2, 3], [1, 2, 3, 4, 5, 6])], attrs: { perm: [1, 0] }, shape: [3, 2], expect: [1, 4, 2, 5, 3, 6] },
  ],
  slice: [
    {
      inputs: [v([2, 3], [1, 2, 3, 4, 5, 6])],
      attrs: { starts: [0, 1], ends: [2, 3] },
      shape: [2, 2],
      expect: [2, 3, 5, 6],
    },
  ],
  pad: [
    {
      inputs: [v([1, 2], [1, 2])],
      attrs: { before: [1, 0], after: [0, 1] },
      shape: [2, 3],
      expect: [0, 0, 0, 1, 2, 0],
    },
  ],
  concat: [
    {
      inputs: [v([2, 1], [1, 2]), v([2, 2], [3, 4, 5, 6])],
      attrs: { axis: 1 },
      shape: [2, 3],
      expect: [1, 3, 4, 2, 5, 6],
    },
  ],
  broadcast: [{ inputs: [v([2, 1], [1, 2])], attrs: { shape: [2, 2] }, shape: [2, 2], expect: [1, 1, 2, 2] }],
  gather: [
    { inputs: [v([3, 2], [1, 2, 3, 4, 5, 6]), v([3], [2, 0, 2], 'i32')], shape: [3, 2], expect: [5, 6, 1, 2, 5, 6] },
  ],
  scatter_add: [
    { inputs: [v([3], [2, 0, 2], 'i32'), v([3, 1], [1, 2, 3])], attrs: { size: 3 }, shape: [3, 1], expect: [2, 0, 4] },
  ],
  random: [
    {
      inputs: [v([], [7], 'u32')],
      attrs: { shape: [3], dist: 'uniform', salt: 0 },
      shape: [3],
      expect: [uniformAt(7, 0, 0), uniformAt(7, 0, 1), uniformAt(7, 0, 2)],
    },
  ],
};

describe('op references on hand-checked cases', () => {
  it('every op in the table has a hand case', () => {
    const missing = allOps()
      .filter((o) => o.kind !== 'leaf' && !cases[o.name])
      .map((o) => o.name);
    expect(missing).toEqual([]);
  });

  for (const [name, list] of Object.entries(cases) as [OpName, Case[]][]) {
    list.forEach((c, k) => {
      it(`${name} #${k}`, () => {
        const b = new Builder();
        const feeds: Record<string, Value> = {};
        const xs = c.inputs.map(([shape, data, dtype], i) => {
          feeds[`x${i}`] = Value.of(shape, data, dtype ?? 'f32');
          return b.input(`x${i}`, shape, dtype ?? 'f32');
        });
        b.output('y', b.op(name, xs, c.attrs ?? {}));
        const y = evaluate(b.g, { inputs: feeds }).y;
        expect(y.shape).toEqual(c.shape);
        [...y.data].forEach((got, i) => expect(got).toBeCloseTo(c.expect[i], 12));
      });
    });
  }

  it('erf matches known values to 1e-14 across its range', () => {
    const known: [number, number][] = [
      [0.1, 0.1124629160182849],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [2.9, 0.9999589021219005],
      [4, 0.9999999845827421],
    ];
    for (const [x, want] of known) expect(Math.abs(erf(x) - want)).toBeLessThan(1e-14);
  });

  it('random draws are uniform and integer draws cover [0, high)', () => {
    const b = new Builder();
    const seed = b.input('seed', [], 'u32');
    b.output('u', b.uniform(seed, [20000]));
    b.output('k', b.randint(seed, [20000], 4));
    const out = evaluate(b.g, { inputs: { seed: Value.scalar(42, 'u32') } });
    const mean = out.u.data.reduce((s, x) => s + x, 0) / 20000;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    const counts = [0, 0, 0, 0];
    out.k.data.forEach((x) => counts[x]++);
    for (const c of counts) expect(Math.abs(c - 5000)).toBeLessThan(300); // ~4 sigma
  });
});

describe('shape errors name the node and the shapes', () => {
  it('broadcast mismatch', () => {
    const b = new Builder();
    const x = b.input('x', [2, 3]);
    const y = b.input('y', [4]);
    b.scope('text.layers.0.ffn', () =>
      expect(() => x.add(y)).toThrow(/add in 'text.layers.0.ffn'.*\[2, 3\] and \[4\]/),
    );
  });
  it('matmul inner dims', () => {
    const b = new Builder();
    expect(() => b.input('a', [2, 3]).matmul(b.input('b', [4, 5]))).toThrow(/inner dimensions differ.*\(3 vs 4\)/);
  });
  it('reshape element count', () => {
    const b = new Builder();
    expect(() => b.input('a', [2, 3]).reshape([4])).toThrow(/cannot reshape \[2, 3\] \(6 elements\) to \[4\]/);
  });
});
