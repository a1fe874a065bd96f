import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { autodiff, gradName } from '../../src/compiler/autodiff.ts';
import { numel } from '../../src/compiler/ir/graph.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { gradCheck } from '../helpers/gradcheck.ts';
import { tinyFeeds, tinyTransformer } from '../helpers/tiny-transformer.ts';

const tr = { trainable: true, init: { kind: 'zeros' as const } };

describe('autodiff', () => {
  it('gradients of a 2-layer transformer with LoRA match finite differences', () => {
    const { graph } = tinyTransformer({ layers: 2, loraLayers: [0, 1] });
    gradCheck(graph, tinyFeeds(graph), 'loss', { maxCoords: 12 });
  });

  it('gradients of full finetuning match finite differences', () => {
    const { graph } = tinyTransformer({ layers: 1, full: true });
    gradCheck(graph, tinyFeeds(graph), 'loss', { maxCoords: 6 });
  });

  it('prunes the frozen trunk below the lowest trainable insertion', () => {
    const { graph } = tinyTransformer({ layers: 3, loraLayers: [2] });
    const { graph: joint, report } = autodiff(graph, { loss: 'loss' });
    const backward = joint.nodes.slice(graph.nodes.length);
    const scopes = new Set(backward.map((n) => n.scope ?? ''));
    // Backward work exists for the adapted layer and the head...
    expect([...scopes].some((s) => s.startsWith('grad(layers.2'))).toBe(true);
    expect([...scopes].some((s) => s.startsWith('grad(head'))).toBe(true);
    // ...and none for the trunk below it.
    for (const s of scopes) expect(s).not.toMatch(/^grad\((layers\.[01]|embed)/);
    // Only trainable params get gradients.
    const grads = [...joint.outputs.keys()].filter((k) => k.startsWith('grad:'));
    expect(grads.sort()).toEqual(report.trainableParams.map(gradName).sort());
    expect(report.trainableParams.every((p) => p.includes('lora') || p.startsWith('head'))).toBe(true);
    expect(report.prunedNodes).toBeGreaterThan(report.differentiatedNodes);
  });

  it('never materializes an M x K x N temporary for matmul gradients', () => {
    const { graph } = tinyTransformer({ layers: 2, full: true, d: 16, L: 8 });
    const { graph: joint } = autodiff(graph, { loss: 'loss' });
    const maxForward = Math.max(...graph.nodes.map((n) => numel(n.shape)));
    const backward = joint.nodes.slice(graph.nodes.length);
    expect(Math.max(...backward.map((n) => numel(n.shape)))).toBeLessThanOrEqual(maxForward);
    // Weight gradients are matmuls (X^T dY), not broadcast products.
    expect(backward.filter((n) => n.op === 'matmul').length).toBeGreaterThan(0);
  });

  it('sums gradients of a shared parameter over its uses', () => {
    const b = new Builder();
    const x = b.input('x', [3]);
    const y = b.input('y', [3]);
    const w1 = b.param('shared.W', [3], tr);
    const w2 = b.param('shared.W', [3], tr); // a second insertion site, same stored tensor
    expect(w2.id).toBe(w1.id);
    b.output('loss', w1.mul(x).sum().add(w2.mul(y).mul(w2).sum()));
    const { graph } = autodiff(b.g, { loss: 'loss' });
    const W = Value.of([3], [1, 2, 3]);
    const out = evaluate(graph, {
      inputs: { x: Value.of([3], [1, 1, 1]), y: Value.of([3], [2, 0, 1]) },
      params: { 'shared.W': W },
    });
    // d/dW [sum(W x) + sum(W^2 y)] = x + 2 W y
    expect([...out[gradName('shared.W')].data]).toEqual([5, 1, 7]);
  });

  it('gives zero gradients through non-differentiable ops', () => {
    const b = new Builder();
    const p = b.param('p', [4], tr);
    b.output(
      'loss',
      p
        .gt(0)
        .mul(b.input('w', [4]))
        .sum(),
    );
    const { graph, report } = autodiff(b.g, { loss: 'loss' });
    const out = evaluate(graph, {
      inputs: { w: Value.of([4], [1, 2, 3, 4]) },
      params: { p: Value.of([4], [1, -1, 2, -2]) },
    });
    expect([...out['grad:p'].data]).toEqual([0, 0, 0, 0]);
    expect(report.backwardNodes).toBe(1); // the zero constant
  });

  it('refuses a non-scalar loss, naming it', () => {
    const b = new Builder();
    b.output('logits', b.param('p', [2], tr).exp());
    expect(() => autodiff(b.g, { loss: 'logits' })).toThrow(/loss 'logits' must be a scalar, got \[2\]/);
    expect(() => autodiff(b.g, { loss: 'nope' })).toThrow(/no output 'nope'/);
  });
});
