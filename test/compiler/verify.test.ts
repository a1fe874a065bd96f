/** The verifier catches a graph a pass broke: a node before its input, or a shape its inputs do not make. */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { verifyGraph } from '../../src/compiler/ir/verify.ts';
import { compile } from '../../src/compiler/compile.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

describe('graph verifier', () => {
  it('passes every stage of a real compile', () => {
    expect(() => compile(tinyVl().spec, { batch: 2, mode: 'train', verify: true })).not.toThrow();
  });

  it('names the stage and the node with a wrong shape or order', () => {
    const b = new Builder();
    const x = b.input('x', [2, 3]);
    const y = x.add(1);
    b.output('y', y);
    const g = b.g;
    g.nodes[y.id] = { ...g.nodes[y.id], shape: [3, 2] };
    expect(() => verifyGraph(g, 'simplify')).toThrow(
      /verify after simplify: %\d+ \(add\) is f32\[3, 2\], its inputs make it f32\[2, 3\]/,
    );
    g.nodes[y.id] = { ...g.nodes[y.id], shape: [2, 3], inputs: [y.id + 5, 0] };
    expect(() => verifyGraph(g, 'fuse')).toThrow(/reads %\d+, which does not come before it/);
  });
});
