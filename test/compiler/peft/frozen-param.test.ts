/** A PEFT method may keep one of its params as it starts (LoRA-FA's A): frozen, no gradient, still its method's in the report. */
import { describe, expect, it } from 'vitest';
import { autodiff, gradName } from '../../../src/compiler/autodiff.ts';
import { paramInfo } from '../../../src/compiler/ir/attrs.ts';
import { Lowering } from '../../../src/compiler/lower/context.ts';
import { paramReport } from '../../../src/compiler/params-report.ts';
import { tinyVl } from '../../helpers/tiny-vl.ts';

describe('frozen PEFT params', () => {
  it('peftParam(..., { frozen: true }) declares a param that does not train and gets no gradient', () => {
    const ctx = new Lowering(tinyVl().spec, { batch: 2, mode: 'train' });
    const x = ctx.b.input('x', [2, 4]);
    const A = ctx.peftParam('text.layers.0.attn.q.lora.A', [4, 2], { kind: 'uniform', bound: 0.5 }, { frozen: true });
    const B = ctx.peftParam('text.layers.0.attn.q.lora.B', [2, 3], { kind: 'zeros' });
    ctx.b.output('loss', x.matmul(A).matmul(B).sum());
    const params = ctx.b.g.params();
    expect(paramInfo(params.get('text.layers.0.attn.q.lora.A')!).trainable).toBe(false);
    expect(paramInfo(params.get('text.layers.0.attn.q.lora.B')!).trainable).toBe(true);
    const { graph } = autodiff(ctx.b.g, { loss: 'loss' });
    expect(graph.outputs.has(gradName('text.layers.0.attn.q.lora.B'))).toBe(true);
    expect(graph.outputs.has(gradName('text.layers.0.attn.q.lora.A'))).toBe(false);
    const report = paramReport(ctx.b.g);
    expect(report.byGroup.lora).toEqual({ total: 8 + 6, trainable: 6 });
  });
});
