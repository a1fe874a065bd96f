/** Typed op attributes: attrsOf checks the op at run time and types the attributes for tsc. */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { attrsOf, leafName, paramInfo } from '../../src/compiler/ir/attrs.ts';
import { getOp } from '../../src/compiler/ops/index.ts';

describe('typed op attributes', () => {
  it('are read through attrsOf, which refuses a node of another op', () => {
    const b = new Builder();
    const x = b.input('x', [2, 3]);
    const w = b.param('w', [3, 4], { trainable: true, init: { kind: 'zeros' } });
    const y = x.matmul(w, { transB: false }).sum([1], true);
    const sum = b.g.get(y.id);
    const { axes, keepdims } = attrsOf(sum, 'sum', 'max_reduce');
    expect([axes, keepdims]).toEqual([[1], true]);
    // @ts-expect-error: a reduction has no permutation (tsc fails here if attributes were untyped)
    expect(attrsOf(sum, 'sum').perm).toBeUndefined();
    expect(() => attrsOf(sum, 'permute')).toThrow(/attributes of permute asked of %\d+, a sum/);
    const mm = b.g.get(sum.inputs[0]);
    expect(attrsOf(mm, 'matmul')).toEqual({ transA: false, transB: false });
    expect(leafName(b.g.get(x.id))).toBe('x');
    expect(paramInfo(b.g.get(w.id)).trainable).toBe(true);
    expect(() => paramInfo(b.g.get(x.id))).toThrow(/attributes of param asked of %\d+, a input/);
  });

  it("type each op definition's rules", () => {
    const permute = getOp('permute');
    // The table holds definitions untyped; the definitions themselves are typed (ops/layout.ts).
    expect(permute.infer([{ shape: [2, 3], dtype: 'f32' }], { perm: [1, 0] }, 'test').shape).toEqual([3, 2]);
  });
});

describe('op names', () => {
  it('the op table defines exactly the names Node.op may hold (ir/op-names.ts), layout ops as layout', async () => {
    const { allOps } = await import('../../src/compiler/ops/index.ts');
    const { OP_NAMES, LAYOUT_OPS } = await import('../../src/compiler/ir/op-names.ts');
    expect(
      allOps()
        .map((d) => d.name)
        .sort(),
    ).toEqual([...OP_NAMES].sort());
    expect(
      allOps()
        .filter((d) => d.kind === 'layout')
        .map((d) => d.name)
        .sort(),
    ).toEqual([...LAYOUT_OPS].sort());
  });
});
