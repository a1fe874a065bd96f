/** Every op in the op table runs on WebGPU, and on the kernel interpreter backend, and matches the reference interpreter. */
import { describe, expect, it } from 'vitest';
import { allOps } from '../../src/compiler/ops/index.ts';
import { opExampleGraph } from '../helpers/op-example.ts';
import { useGpu } from '../helpers/gpu.ts';
import { checkAgainstReference, profileOf } from '../helpers/run-plan.ts';
import { compilePlan } from '../../src/compiler/plan.ts';
import { InterpreterBackend } from '../../src/runtime/interpreter-backend.ts';

describe('op table on WebGPU vs reference', () => {
  const gpu = useGpu();
  for (const op of allOps().filter((o) => o.kind !== 'leaf')) {
    op.examples.forEach((_ex, k) => {
      for (const fused of [true, false]) {
        it(`${op.name} #${k} ${fused ? 'fused' : 'op-by-op'}`, async () => {
          const { b, inputs, float } = opExampleGraph(op, k);
          await checkAgainstReference(gpu(), b.g, { inputs }, { fuse: fused });
          // The same plan on the kernel interpreter backend (its memory plan, its bindings).
          await checkAgainstReference(gpu(), b.g, { inputs }, { fuse: fused, backend: new InterpreterBackend() });
          // And fusion really happened: an elementwise or layout op and its consumer are one kernel.
          if (fused && float && ['unary', 'binary', 'where', 'cast', 'layout'].includes(op.kind)) {
            expect(compilePlan(b.g, profileOf(gpu())).kernels.length, `${op.name} fused into its consumer`).toBe(1);
          }
        });
      }
    });
  }
});
