/** Every op in the op table runs on WebGPU and matches the reference interpreter. */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { allOps } from '../../src/compiler/ops/index.ts';
import type { Value } from '../../src/compiler/ir/value.ts';
import { draw, rng } from '../helpers/random.ts';
import { useGpu } from '../helpers/gpu.ts';
import { checkAgainstReference, profileOf } from '../helpers/run-plan.ts';
import { compilePlan } from '../../src/compiler/plan.ts';

describe('op table on WebGPU vs reference', () => {
  const gpu = useGpu();
  for (const op of allOps().filter((o) => o.kind !== 'leaf')) {
    op.examples.forEach((ex, k) => {
      for (const fused of [true, false]) {
        it(`${op.name} #${k} ${fused ? 'fused' : 'op-by-op'}`, async () => {
          const r = rng(77 + k);
          const b = new Builder();
          const inputs: Record<string, Value> = {};
          const xs = ex.inputs.map((s, i) => {
            inputs[`x${i}`] = draw(r, s.shape, s.domain, s.dtype ?? 'f32');
            return b.input(`x${i}`, s.shape, s.dtype ?? 'f32');
          });
          // Float results feed a consumer and are not outputs themselves, so a fusible op is
          // computed inside the consumer's kernel (an output would get its own buffer).
          const y = b.op(op.name, xs, ex.attrs ?? {});
          if (y.dtype === 'f32') b.output('z', y.mul(2).add(1));
          else b.output('y', y);
          await checkAgainstReference(gpu(), b.g, { inputs }, { fuse: fused });
          // And fusion really happened: an elementwise or layout op and its consumer are one kernel.
          if (fused && y.dtype === 'f32' && ['unary', 'binary', 'where', 'cast', 'layout'].includes(op.kind)) {
            expect(compilePlan(b.g, profileOf(gpu())).kernels.length, `${op.name} fused into its consumer`).toBe(1);
          }
        });
      }
    });
  }
});
