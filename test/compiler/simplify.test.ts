import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { autodiff } from '../../src/compiler/autodiff.ts';
import { algebraic, cse, dce, foldConstants, simplify } from '../../src/compiler/passes/simplify.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { printGraph } from '../../src/compiler/ir/printer.ts';
import { tinyFeeds, tinyTransformer } from '../helpers/tiny-transformer.ts';

const count = (g: { nodes: { op: string }[] }, op: string) => g.nodes.filter((n) => n.op === op).length;

describe('simplify', () => {
  it('dce drops nodes no output needs', () => {
    const b = new Builder();
    const x = b.input('x', [2]);
    x.exp();
    b.output('y', x.tanh());
    const g = dce(b.g);
    expect(count(g, 'exp')).toBe(0);
    expect(count(g, 'tanh')).toBe(1);
  });

  it('cse merges identical subexpressions', () => {
    const b = new Builder();
    const x = b.input('x', [2]);
    b.output('y', x.exp().add(x.exp()));
    expect(count(b.g, 'exp')).toBe(2);
    expect(count(dce(cse(b.g)), 'exp')).toBe(1);
  });

  it('folds constant subgraphs', () => {
    const b = new Builder();
    const c = b.constant([1, 2], [2]).mul(3).exp();
    b.output('y', b.input('x', [2]).add(c));
    const g = dce(foldConstants(b.g));
    expect(count(g, 'exp')).toBe(0);
    const y = evaluate(g, { inputs: { x: Value.of([2], [0, 0]) } }).y;
    expect(y.data[1]).toBeCloseTo(Math.exp(6), 10);
  });

  it('folds transposes into matmul flags', () => {
    const b = new Builder();
    const a = b.input('a', [4, 3]);
    const w = b.input('w', [5, 4]);
    b.output('y', a.T().matmul(w.T()));
    const g = dce(algebraic(b.g));
    expect(count(g, 'permute')).toBe(0);
    const mm = g.nodes.find((n) => n.op === 'matmul')!;
    expect(mm.attrs).toMatchObject({ transA: true, transB: true });
    const feeds = {
      inputs: {
        a: Value.of([4, 3], [...Array(12).keys()]),
        w: Value.of(
          [5, 4],
          [...Array(20).keys()].map((i) => i % 7),
        ),
      },
    };
    expect(evaluate(g, feeds).y.data).toEqual(evaluate(b.g, feeds).y.data);
  });

  it('keeps the joint graph of a transformer equal, with fewer nodes', () => {
    const { graph } = tinyTransformer({ layers: 2, loraLayers: [1] });
    const { graph: joint } = autodiff(graph, { loss: 'loss' });
    const { graph: simple, report } = simplify(joint);
    expect(report.after).toBeLessThan(report.before);
    const feeds = tinyFeeds(graph);
    const want = evaluate(joint, feeds);
    const got = evaluate(simple, feeds);
    for (const k of Object.keys(want)) {
      want[k].data.forEach((v, i) => expect(got[k].data[i]).toBeCloseTo(v, 12));
    }
  });

  it('prints a readable listing grouped by layer', () => {
    const { graph } = tinyTransformer({ layers: 2 });
    const text = printGraph(graph);
    expect(text).toMatch(/^# embed/m);
    expect(text).toMatch(/^# layers\.1\.ffn/m);
    expect(text).toMatch(/%\d+: f32\[8, 8\] = param 'layers\.0\.attn\.q\.W'\(\) \{frozen\}/);
    expect(text).toMatch(/matmul\(%\d+, %\d+\) \{transA=false transB=false\}/);
    expect(text).toMatch(/-> loss$/m);
  });
});
