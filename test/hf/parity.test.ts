/**
 * Architecture parity: each family's tiny HF-layout checkpoint, imported and run by peftgraph,
 * gives the outputs of an implementation peftgraph did not write (torchvision, torch.nn,
 * modeling_t5.py in the fixture script; test/fixtures/hf/README.md). Float64 reference
 * interpreter within 1e-9, WebGPU (f32) within 1e-4, relative to each tensor's scale.
 */
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/compiler/reference.ts';
import { useGpu } from '../helpers/gpu.ts';
import { runOnGpu, toF32 } from '../helpers/run-plan.ts';
import { FAMILIES, expectedOutputs, loadFixture, relError } from '../helpers/hf-fixture.ts';

describe('HF parity on the reference interpreter (float64)', () => {
  for (const name of FAMILIES) {
    it(`${name}: every output within 1e-9`, () => {
      const { graph, feeds } = loadFixture(name);
      const want = expectedOutputs(name);
      const got = evaluate(graph, feeds, Object.keys(want));
      for (const [k, w] of Object.entries(want)) {
        expect(got[k].shape, `${name} ${k} shape`).toEqual(w.shape);
        expect(relError(got[k].data, w.data), `${name} ${k}`).toBeLessThan(1e-9);
      }
    });
  }
});

describe('HF parity on WebGPU (f32)', () => {
  const gpu = useGpu();
  for (const name of FAMILIES) {
    it(`${name}: every output within 1e-4`, async () => {
      const { graph, feeds } = loadFixture(name);
      const want = expectedOutputs(name);
      const got = await runOnGpu(gpu(), graph, toF32(feeds));
      for (const [k, w] of Object.entries(want)) expect(relError(got[k], w.data), `${name} ${k}`).toBeLessThan(1e-4);
    });
  }
});
