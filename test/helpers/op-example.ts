/** A one-op graph from an op-table example, its float result feeding a consumer (so a fusible op is fused into it). */
import { Builder } from '../../src/compiler/builder.ts';
import type { Value } from '../../src/compiler/ir/value.ts';
import type { OpDef } from '../../src/compiler/ops/table.ts';
import { draw, rng } from './random.ts';

export function opExampleGraph(op: OpDef, k: number): { b: Builder; inputs: Record<string, Value>; float: boolean } {
  const ex = op.examples[k];
  const r = rng(77 + k);
  const b = new Builder();
  const inputs: Record<string, Value> = {};
  const xs = ex.inputs.map((s, i) => {
    inputs[`x${i}`] = draw(r, s.shape, s.domain, s.dtype ?? 'f32');
    return b.input(`x${i}`, s.shape, s.dtype ?? 'f32');
  });
  // Float results feed a consumer and are not outputs themselves: an output gets its own buffer.
  const y = b.op(op.name, xs, ex.attrs ?? {});
  if (y.dtype === 'f32') b.output('z', y.mul(2).add(1));
  else b.output('y', y);
  return { b, inputs, float: y.dtype === 'f32' };
}
