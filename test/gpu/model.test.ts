/** A whole VL model from the DSL, trained graph on WebGPU vs the reference: every method at once. */
import { describe, expect, it } from 'vitest';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { autodiff } from '../../src/compiler/autodiff.ts';
import { simplify } from '../../src/compiler/passes/simplify.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { draw, rng } from '../helpers/random.ts';
import { gradCheck } from '../helpers/gradcheck.ts';
import { useGpu } from '../helpers/gpu.ts';
import { expectClose, profileOf, runOnGpu, toF32 } from '../helpers/run-plan.ts';
import { Builder } from '../../src/compiler/builder.ts';
import { compilePlan } from '../../src/compiler/plan.ts';
import { paramInfo } from '../../src/compiler/ir/attrs.ts';
import { bf16ToF32, f16ToF32, toBf16Bits, toF16Bits, widen } from '../../src/runtime/half.ts';
import { Executor } from '../../src/runtime/executor.ts';
import { mixedMethods } from '../helpers/tiny-vl.ts';
import { InterpreterBackend } from '../../src/runtime/interpreter-backend.ts';

const model = mixedMethods;

function feedsFor(g: ReturnType<typeof lowerModel>['graph']) {
  const r = rng(4);
  const init = initialWeights(g, 1);
  // Zero-initialized factors (LoRA B, adapter up) are perturbed so every gradient path is exercised.
  const params = Object.fromEntries(
    [...g.params()].map(([k, n]) => [
      k,
      new Value(
        n.shape,
        Float64Array.from(init[k], (x) => x + 0.05 * (r() - 0.5)),
      ),
    ]),
  );
  const inputs = {
    image: draw(r, [2, 1, 8, 8], 'positive'),
    tokens: draw(r, [2, 4], { int: 7 }, 'i32'),
    mask: Value.of([2, 4], [1, 1, 1, 0, 1, 1, 0, 0]),
    targets: Value.of([2, 3], [1, 0, 0.3, 0, 0.6, 1]),
    seed: Value.scalar(77, 'u32'),
  };
  return { params, inputs };
}

describe('a DSL model end to end', () => {
  const gpu = useGpu();

  it('gradients of the total loss (task + redundancy + relevance) match finite differences', () => {
    const { graph } = lowerModel(model().spec, { batch: 2, mode: 'train' });
    gradCheck(graph, feedsFor(graph), 'loss', { maxCoords: 6 });
  });

  it('its joint graph on WebGPU matches the reference (losses and gradients)', async () => {
    const { graph } = lowerModel(model().spec, { batch: 2, mode: 'train' });
    const { graph: joint, report } = autodiff(graph, { loss: 'loss' });
    expect(report.prunedNodes).toBeGreaterThan(0);
    const { graph: g } = simplify(joint);
    const feeds = toF32(feedsFor(graph));
    const want = evaluate(g, feeds);
    expectClose(await runOnGpu(gpu(), g, feeds), want, 1e-3, 1e-5);
    // The same plan on the kernel interpreter backend: it agrees too.
    expectClose(await runOnGpu(gpu(), g, feeds, { backend: new InterpreterBackend() }), want, 1e-3, 1e-5);
  });

  it('planned for a GPU (tiled matmuls, workgroup reductions, vec4 loads, f16 storage) it runs on lavapipe and matches the reference', async () => {
    // No GPU in CI: the kernels a hardware profile gets are checked here, on the software adapter.
    const { graph } = lowerModel(model().spec, { batch: 2, mode: 'train' });
    const { graph: g } = simplify(autodiff(graph, { loss: 'loss' }).graph);
    const feeds = toF32(feedsFor(graph));
    const want = evaluate(g, feeds);
    const hardware = { ...profileOf(gpu()), isSoftware: false };
    expectClose(await runOnGpu(gpu(), g, feeds, { profile: hardware }), want, 1e-3, 1e-5);
    const half = await runOnGpu(gpu(), g, feeds, { profile: hardware, halfActivations: true });
    expect(Math.abs(half.loss[0] - want.loss.data[0])).toBeLessThan(5e-3 * Math.abs(want.loss.data[0]));
  });

  it('frozen weights kept in bf16 or f16 (unpacked in the kernels) give the reference on those weights rounded; trainable ones stay f32', async () => {
    const { graph } = lowerModel(model().spec, { batch: 2, mode: 'train' });
    const { graph: g } = simplify(autodiff(graph, { loss: 'loss' }).graph);
    const feeds = toF32(feedsFor(graph));
    for (const [dtype, round] of [
      ['bf16', (x: number) => bf16ToF32(toBf16Bits(x))],
      ['f16', (x: number) => f16ToF32(toF16Bits(x))],
    ] as const) {
      const frozen = [...g.params()].filter(([, n]) => !paramInfo(n).trainable).map(([k]) => k);
      expect(frozen.length).toBeGreaterThan(10);
      const rounded = { ...feeds, params: { ...feeds.params } };
      for (const k of frozen) rounded.params![k] = new Value(feeds.params![k].shape, feeds.params![k].data.map(round));
      const plan = compilePlan(g, profileOf(gpu()), { frozenWeights: dtype, halfActivations: false });
      for (const k of frozen) expect(plan.params[k].storage, k).toBe(dtype);
      for (const [k, n] of g.params()) if (paramInfo(n).trainable) expect(plan.params[k].storage, k).toBeUndefined();
      const want = evaluate(g, rounded);
      expectClose(await runOnGpu(gpu(), g, feeds, { frozenWeights: dtype }), want, 1e-3, 1e-5);
      // And not the f32 weights' result: the rounding is really applied.
      expect(Math.abs(want.loss.data[0] - evaluate(g, feeds).loss.data[0])).toBeGreaterThan(1e-7);
    }
  });

  it('a bf16 frozen table over the binding limit: gather and tied-head matmul read its ranges', async () => {
    const b = new Builder();
    const table = b.param('embed', [300, 8], { trainable: false, init: { kind: 'zeros' } });
    const h = b.gather(table, b.input('ids', [5], 'i32'));
    b.output('y', h.tanh().matmul(table, { transB: true }));
    const r = rng(9);
    const w = draw(r, [300, 8]);
    const feeds = { params: { embed: w }, inputs: { ids: Value.of([5], [0, 127, 128, 255, 299], 'i32') } };
    const profile = { ...profileOf(gpu()), maxStorageBufferBindingSize: 4096 }; // 4,800 bytes of bf16: 2 ranges
    const plan = compilePlan(b.g, profile, { frozenWeights: 'bf16' });
    expect(plan.buffers.filter((x) => x.label.includes('[range ') && x.label.includes('embed')).length).toBe(2);
    const rounded = {
      ...feeds,
      params: {
        embed: new Value(
          [300, 8],
          w.data.map((x) => bf16ToF32(toBf16Bits(x))),
        ),
      },
    };
    expectClose(
      await runOnGpu(gpu(), b.g, toF32(feeds), { profile, frozenWeights: 'bf16' }),
      evaluate(b.g, rounded),
      1e-5,
      1e-5,
    );
  });

  it('a 16-bit checkpoint tensor uploads its bits as they are to a bf16 slot, and widened to an f32 one', async () => {
    const b = new Builder();
    const w = b.param('w', [3, 4], { trainable: false, init: { kind: 'zeros' } });
    const t = b.param('t', [4], { trainable: true, init: { kind: 'zeros' } });
    b.output('y', b.input('x', [2, 3]).matmul(w).add(t));
    const bits = Uint16Array.from({ length: 12 }, (_, i) => 0x3f80 + i * 0x111); // bf16 1.0 and up
    const plan = compilePlan(b.g, profileOf(gpu()), { frozenWeights: 'bf16' });
    const ex = await Executor.create(gpu(), plan);
    try {
      ex.setParam('w', { dtype: 'bf16', bits });
      ex.setParam('t', { dtype: 'bf16', bits: bits.slice(0, 4) });
      expect([...(await ex.readParam('w'))]).toEqual([...widen({ dtype: 'bf16', bits })]);
      expect([...(await ex.readParam('t'))]).toEqual([...widen({ dtype: 'bf16', bits: bits.slice(0, 4) })]);
    } finally {
      ex.destroy();
    }
  });
});
