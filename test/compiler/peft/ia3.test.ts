/**
 * (IA)^3, the method added through the registry in one module: its rescaling against the
 * formula written here in Float64, its gradients against finite differences, and merging
 * (the vectors folded into the weights) against the unmerged model.
 */
import { describe, expect, it } from 'vitest';
import { peft, vl } from '../../../src/dsl/index.ts';
import { lowerModel } from '../../../src/compiler/lower/index.ts';
import { paramReport } from '../../../src/compiler/params-report.ts';
import { Lowering } from '../../../src/compiler/lower/context.ts';
import { linear } from '../../../src/compiler/lower/hooks.ts';
import { Value } from '../../../src/compiler/ir/value.ts';
import { evaluate } from '../../../src/compiler/reference.ts';
import { draw, rng } from '../../helpers/random.ts';
import { gradCheck } from '../../helpers/gradcheck.ts';
import { expectMergesExactly } from '../../helpers/merge-check.ts';

const model = () =>
  vl
    .model({
      vision: vl.vit({ image: [4, 4], patch: 2, width: 8, depth: 1, heads: 2 }),
      text: vl.encoder({ vocab: 6, maxLen: 3, width: 8, depth: 2, heads: 2, mlpRatio: 2 }),
      visualPrefix: 'pooled',
      head: vl.classifier({ answers: 3 }),
    })
    .freeze('**', 'head.**')
    .insert(peft.ia3({ at: ['text.layers.*.attn.{k,v}', 'text.layers.*.ffn.down'] }));

/** One linear through the hook, with drawn x, W, b and l; returns the graph's y and the values. */
function site(path: string, din: number, dout: number) {
  const ctx = new Lowering(model().spec, { batch: 2, mode: 'train' });
  const x = ctx.b.input('x', [2, 3, din]);
  ctx.b.output('y', linear(ctx, path, x, din, dout));
  const r = rng(5);
  const params = Object.fromEntries([...ctx.b.g.params()].map(([k, n]) => [k, draw(r, n.shape)]));
  const xv = draw(r, [2, 3, din]);
  const y = evaluate(ctx.b.g, { params, inputs: { x: xv } }, ['y']).y;
  return { y, x: xv.data, W: params[`${path}.W`].data, b: params[`${path}.b`].data, l: params[`${path}.ia3.l`].data };
}

describe('(IA)^3', () => {
  it('scales a key or value projection output: y = (x W + b) * l', () => {
    const [din, dout] = [8, 8];
    const { y, x, W, b, l } = site('text.layers.0.attn.k', din, dout);
    for (let r = 0; r < 6; r++)
      for (let j = 0; j < dout; j++) {
        let s = b[j];
        for (let i = 0; i < din; i++) s += x[r * din + i] * W[i * dout + j];
        expect(y.data[r * dout + j]).toBeCloseTo(s * l[j], 12);
      }
  });

  it("scales the FFN activation, the down projection's input: y = (x * l) W + b", () => {
    const [din, dout] = [16, 8];
    const { y, x, W, b, l } = site('text.layers.1.ffn.down', din, dout);
    for (let r = 0; r < 6; r++)
      for (let j = 0; j < dout; j++) {
        let s = b[j];
        for (let i = 0; i < din; i++) s += x[r * din + i] * l[i] * W[i * dout + j];
        expect(y.data[r * dout + j]).toBeCloseTo(s, 12);
      }
  });

  it('trains only its vectors (initialized to ones), and its gradients match finite differences', () => {
    const { graph } = lowerModel(model().spec, { batch: 2, mode: 'train' });
    const report = paramReport(graph);
    expect(report.byMethod).toEqual({ ia3: 2 * (8 + 8 + 16) });
    expect(report.trainable).toBe(report.byMethod.ia3);
    const r = rng(3);
    const params = Object.fromEntries(
      [...graph.params()].map(([k, n]) => [
        k,
        k.endsWith('.ia3.l')
          ? Value.of(
              n.shape,
              Array.from({ length: n.shape[0] }, () => 1 + 0.3 * (r() - 0.5)),
            )
          : draw(r, n.shape),
      ]),
    );
    const inputs = {
      image: draw(r, [2, 1, 4, 4]),
      tokens: draw(r, [2, 3], { int: 6 }, 'i32'),
      mask: Value.of([2, 3], [1, 1, 1, 1, 1, 0]),
      targets: draw(r, [2, 3], { int: 2 }),
      seed: Value.scalar(3, 'u32'),
    };
    gradCheck(graph, { params, inputs }, 'loss', { maxCoords: 4 });
  });

  it('merges into the weights: the merged graph has no vectors and gives the same logits', () => {
    const r = rng(8);
    const inputs = {
      image: draw(r, [2, 1, 4, 4]),
      tokens: draw(r, [2, 3], { int: 6 }, 'i32'),
      mask: Value.of([2, 3], [1, 1, 1, 1, 1, 0]),
      targets: draw(r, [2, 3], { int: 2 }),
    };
    expectMergesExactly(
      model().spec,
      'ia3',
      (g) => Object.fromEntries([...g.params()].map(([k, n]) => [k, draw(r, n.shape)])),
      inputs,
    );
  });
});
