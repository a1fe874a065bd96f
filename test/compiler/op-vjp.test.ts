/** Every differentiable op's VJP against central finite differences, driven by the op table. */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { allOps } from '../../src/compiler/ops/index.ts';
import { isFloat } from '../../src/compiler/ir/graph.ts';
import type { Value } from '../../src/compiler/ir/value.ts';
import { draw, rng } from '../helpers/random.ts';
import { gradCheck } from '../helpers/gradcheck.ts';

const differentiable = allOps().filter((op) => op.vjp && op.kind !== 'leaf');

describe('VJP vs finite differences (Float64, rtol 1e-6)', () => {
  it('covers every differentiable op', () => {
    expect(differentiable.map((o) => o.name).sort()).toEqual(
      expect.arrayContaining([
        'add',
        'matmul',
        'gather',
        'scatter_add',
        'sum',
        'max_reduce',
        'concat',
        'pad',
        'where',
        'gelu',
        'erf',
      ]),
    );
  });

  for (const op of differentiable) {
    op.examples.forEach((ex, k) => {
      it(`${op.name} #${k} ${ex.inputs.map((i) => `[${i.shape}]`).join(' ')}`, () => {
        const r = rng(1000 + k);
        const b = new Builder();
        const params: Record<string, Value> = {};
        const inputs: Record<string, Value> = {};
        const xs = ex.inputs.map((spec, i) => {
          const dtype = spec.dtype ?? 'f32';
          const v = draw(r, spec.shape, spec.domain, dtype);
          const diff = isFloat(dtype) && typeof spec.domain !== 'object';
          if (diff) {
            params[`x${i}`] = v;
            return b.param(`x${i}`, spec.shape, { trainable: true, init: { kind: 'zeros' } }, dtype);
          }
          inputs[`x${i}`] = v;
          return b.input(`x${i}`, spec.shape, dtype);
        });
        const y = b.op(op.name, xs, ex.attrs ?? {});
        if (!isFloat(y.dtype)) return; // e.g. cast to i32: nothing flows back
        const w = draw(r, y.shape, 'real');
        const loss = y.mul(b.constant([...w.data], y.shape, y.dtype)).sum();
        b.output('loss', loss);
        gradCheck(b.g, { params, inputs });
      });
    });
  }
});
