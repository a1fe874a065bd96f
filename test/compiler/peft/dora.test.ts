/**
 * DoRA, the method added by its two files and a registry entry each side: its output against the
 * formula written here in Float64, its start (magnitude = ||W0||_c, so the layer is unchanged),
 * gradients against finite differences, merging against the unmerged model, the parameter
 * report, and one fused AdamW step on WebGPU against the update rule applied to the reference
 * interpreter's gradients.
 */
import { describe, expect, it } from 'vitest';
import { peft, vl } from '../../../src/dsl/index.ts';
import { lowerModel } from '../../../src/compiler/lower/index.ts';
import { paramReport } from '../../../src/compiler/params-report.ts';
import { Lowering } from '../../../src/compiler/lower/context.ts';
import { linear } from '../../../src/compiler/lower/hooks.ts';
import { autodiff, gradName } from '../../../src/compiler/autodiff.ts';
import { Value } from '../../../src/compiler/ir/value.ts';
import { evaluate } from '../../../src/compiler/reference.ts';
import { initialWeights } from '../../../src/runtime/init.ts';
import { TrainStep } from '../../../src/train/train-step.ts';
import { draw, rng } from '../../helpers/random.ts';
import { gradCheck } from '../../helpers/gradcheck.ts';
import { useGpu } from '../../helpers/gpu.ts';
import { expectMergesExactly } from '../../helpers/merge-check.ts';

const [r, alpha] = [2, 6];
const model = () =>
  vl
    .model({
      vision: vl.vit({ image: [4, 4], patch: 2, width: 8, depth: 1, heads: 2 }),
      text: vl.encoder({ vocab: 6, maxLen: 3, width: 8, depth: 2, heads: 2, mlpRatio: 2 }),
      visualPrefix: 'pooled',
      head: vl.classifier({ answers: 3 }),
    })
    .freeze('**', 'head.**')
    .insert(peft.dora({ at: ['text.layers.*.attn.{q,v}', 'text.layers.1.ffn.down'], rank: r, alpha }));

const inputsOf = (rand: () => number) => ({
  image: draw(rand, [2, 1, 4, 4]),
  tokens: draw(rand, [2, 3], { int: 6 }, 'i32'),
  mask: Value.of([2, 3], [1, 1, 1, 1, 1, 0]),
  targets: draw(rand, [2, 3], { int: 2 }),
  seed: Value.scalar(3, 'u32'),
});

/** Drawn values for every param, B and m included (so no term vanishes), m kept positive. */
function drawn(graph: ReturnType<typeof lowerModel>['graph'], seed: number) {
  const rand = rng(seed);
  return Object.fromEntries(
    [...graph.params()].map(([k, n]) => [
      k,
      k.endsWith('.dora.m')
        ? Value.of(
            n.shape,
            Array.from({ length: n.shape[0] }, () => 0.5 + rand()),
          )
        : draw(rand, n.shape),
    ]),
  );
}

describe('DoRA', () => {
  it('y = x ((m / ||V||_c) ⊙ V) + b with V = W0 + (alpha/r) A B, in Float64 by hand', () => {
    const [din, dout, path] = [16, 8, 'text.layers.1.ffn.down'];
    const ctx = new Lowering(model().spec, { batch: 2, mode: 'train' });
    const x = ctx.b.input('x', [2, 3, din]);
    ctx.b.output('y', linear(ctx, path, x, din, dout));
    const params = drawn(ctx.b.g, 5);
    const xv = draw(rng(6), [2, 3, din]);
    const y = evaluate(ctx.b.g, { params, inputs: { x: xv, seed: Value.scalar(1, 'u32') } }, ['y']).y;
    const P = (k: string) => params[`${path}.${k}`].data;
    const [W, b, A, B, m] = [P('W'), P('b'), P('dora.A'), P('dora.B'), P('dora.m')];
    const V = Array.from({ length: din * dout }, (_, q) => {
      const [i, j] = [Math.floor(q / dout), q % dout];
      let s = W[q];
      for (let k = 0; k < r; k++) s += (alpha / r) * A[i * r + k] * B[k * dout + j];
      return s;
    });
    const norm = Array.from({ length: dout }, (_, j) =>
      Math.sqrt(Array.from({ length: din }, (_, i) => V[i * dout + j] ** 2).reduce((p, q) => p + q)),
    );
    for (let row = 0; row < 6; row++)
      for (let j = 0; j < dout; j++) {
        let s = 0;
        for (let i = 0; i < din; i++) s += xv.data[row * din + i] * V[i * dout + j];
        expect(y.data[row * dout + j]).toBeCloseTo((m[j] / norm[j]) * s + b[j], 11);
      }
  });

  it('starts as the layer it wraps: m = ||W0||_c from the weights given (pretrained), B = 0', () => {
    const spec = model().spec;
    const { graph } = lowerModel(spec, { batch: 2, mode: 'infer' });
    const pretrained = Object.fromEntries(
      [...graph.params()]
        .filter(([k]) => !k.includes('.dora.'))
        .map(([k, n]) => [k, Float32Array.from(draw(rng(k.length), n.shape).data)]),
    );
    const w = initialWeights(graph, 4, pretrained);
    const W = w['text.layers.0.attn.q.W'];
    expect(w['text.layers.0.attn.q.dora.m'][3]).toBeCloseTo(
      Math.hypot(...Array.from({ length: 8 }, (_, i) => W[i * 8 + 3])),
      6,
    );
    expect([...w['text.layers.0.attn.q.dora.B']].every((v) => v === 0)).toBe(true);
    const plain = lowerModel({ ...spec, insertions: [] }, { batch: 2, mode: 'infer' }).graph;
    const inputs = inputsOf(rng(2));
    const as = (g: typeof graph) =>
      Object.fromEntries([...g.params()].map(([k, n]) => [k, new Value(n.shape, Float64Array.from(w[k]))]));
    const a = evaluate(graph, { params: as(graph), inputs }, ['logits']).logits;
    const b = evaluate(plain, { params: as(plain), inputs }, ['logits']).logits;
    a.data.forEach((v, i) => expect(v).toBeCloseTo(b.data[i], 5));
  });

  it('trains A, B and m only (the report counts them), and its gradients match finite differences', () => {
    const { graph } = lowerModel(model().spec, { batch: 2, mode: 'train' });
    const report = paramReport(graph);
    // q and v in two layers (8 -> 8), and one FFN down projection (16 -> 8): r (din + dout) + dout each.
    expect(report.byMethod).toEqual({ dora: 4 * (r * 16 + 8) + (r * 24 + 8) });
    expect(report.trainable).toBe(report.byMethod.dora);
    gradCheck(graph, { params: drawn(graph, 3), inputs: inputsOf(rng(3)) }, 'loss', { maxCoords: 4 });
  });

  it('merges exactly: the merged graph has no DoRA params and gives the same logits', () => {
    expectMergesExactly(model().spec, 'dora', (g) => drawn(g, 8), inputsOf(rng(9)));
  });

  describe('on WebGPU', () => {
    const gpu = useGpu();

    it('one fused AdamW step updates A, B and m as the rule applied to the reference gradients does', async () => {
      const { graph } = lowerModel(model().spec, { batch: 2, mode: 'train' });
      const params = drawn(graph, 12);
      const inputs = inputsOf(rng(13));
      const lr = 1e-3;
      const ts = await TrainStep.compile(gpu(), graph, {
        optimizer: { kind: 'adamw', weightDecay: 0.1, clip: 0 },
        lr,
        schedule: { kind: 'constant' },
        totalSteps: 1,
      });
      try {
        ts.setWeights(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float32Array.from(v.data)])));
        const { seed, ...batch } = inputs;
        await ts.submit(Object.fromEntries(Object.entries(batch).map(([k, v]) => [k, v.data])), seed.data[0]);
        const got = await ts.readWeights();
        const grads = evaluate(autodiff(graph, { loss: 'loss' }).graph, { params, inputs });
        let checked = 0;
        for (const [k, n] of graph.params()) {
          if (!k.includes('.dora.')) continue;
          const g = grads[gradName(k)].data;
          const w = params[k].data;
          const decay = k.endsWith('.dora.m') ? 0 : 0.1; // m is a scale: no weight decay, as biases and norms
          // First AdamW step: m/(1-b1) = g and v/(1-b2) = g^2, so the step is lr (g / (|g| + eps) + wd w).
          for (let i = 0; i < n.shape.reduce((p, q) => p * q, 1); i++) {
            const want = w[i] - lr * (g[i] / (Math.abs(g[i]) + 1e-8) + decay * w[i]);
            // A gradient within float32 noise of zero may take either sign on the GPU.
            if (Math.abs(g[i]) > 1e-4) expect(got[k][i], `${k}[${i}]`).toBeCloseTo(want, 5);
            else expect(Math.abs(got[k][i] - want)).toBeLessThanOrEqual(2.1 * lr);
            checked++;
          }
        }
        expect(checked).toBe(4 * (r * 16 + 8) + (r * 24 + 8));
      } finally {
        ts.destroy();
      }
    });
  });
});
