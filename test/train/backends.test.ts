/**
 * The backend boundary: one plan, run by the same executor on WebGPU (lavapipe here) and on the
 * kernel interpreter, must agree; and whole training steps (packs, ping-pong, the packed
 * optimizer, clipping), resume from read-back weights and state, and the NaN guard work on the
 * interpreter alone, with no GPU.
 */
import { describe, expect, it } from 'vitest';
import { peft } from '../../src/dsl/index.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { PORTABLE_PROFILE, type Plan } from '../../src/compiler/plan.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { InterpreterBackend } from '../../src/runtime/interpreter-backend.ts';
import { profileOf } from '../../src/runtime/profile.ts';
import { NonFiniteError, TrainStep, type StepConfig } from '../../src/train/train-step.ts';
import { draw, rng } from '../helpers/random.ts';
import { useGpu } from '../helpers/gpu.ts';
import { mixedMethods } from '../helpers/tiny-vl.ts';

// The DSL model of test/gpu/model.test.ts, with DoRA too (a derived initializer, a hook reading W and b).
const spec = () => mixedMethods().insert(peft.dora({ at: 'vision.layers.0.ffn.up', rank: 2 })).spec;

const graph = () => lowerModel(spec(), { batch: 2, mode: 'train' }).graph;
const cfg: StepConfig = {
  optimizer: { kind: 'adamw', weightDecay: 0.01, clip: 1 },
  lr: 0.01,
  schedule: { kind: 'linear', warmup: 0.25 },
  totalSteps: 4,
};

/** Weights: initialized, the zero-initialized factors perturbed so every path carries a gradient. */
function weights(g: ReturnType<typeof graph>): Record<string, Float32Array> {
  const r = rng(4);
  return Object.fromEntries(
    Object.entries(initialWeights(g, 1)).map(([k, v]) => [k, Float32Array.from(v, (x) => x + 0.05 * (r() - 0.5))]),
  );
}

function batches(n: number): Record<string, ArrayLike<number>>[] {
  const r = rng(9);
  return Array.from({ length: n }, () => ({
    image: draw(r, [2, 1, 8, 8], 'positive').data,
    tokens: draw(r, [2, 4], { int: 7 }, 'i32').data,
    mask: [1, 1, 1, 0, 1, 1, 0, 0],
    targets: [1, 0, 0.3, 0, 0.6, 1],
  }));
}

/** Runs `steps` steps from `from` (step counter, weights, optimizer state); returns losses, weights and state. */
async function run(
  ts: TrainStep,
  from: { step: number; w: Record<string, Float32Array>; state?: Record<string, Float32Array> },
  steps: number,
) {
  ts.setWeights(from.w);
  if (from.state) ts.setState(from.state);
  ts.step = from.step;
  const losses: number[] = [];
  const data = batches(4);
  for (let s = 0; s < steps; s++) {
    const r = await ts.submit(data[from.step + s], 100 + from.step + s);
    losses.push(r.losses.loss, r.gradNorm);
  }
  return { losses, w: await ts.readWeights(), state: await ts.readState() };
}

describe('backends', () => {
  const gpu = useGpu();

  it('one training step plan: WebGPU and the interpreter agree on every loss and every updated weight', async () => {
    const g = graph();
    const w = weights(g);
    const profile = profileOf(gpu());
    const onGpu = await TrainStep.compile(gpu(), g, cfg);
    const onCpu = await TrainStep.compileOn(new InterpreterBackend(), profile, g, cfg);
    try {
      // The same plan on both: the same kernels in the same order over the same memory plan.
      expect(onCpu.plan.kernels.map((k) => k.name)).toEqual(onGpu.plan.kernels.map((k) => k.name));
      const a = await run(onGpu, { step: 0, w }, 3);
      const b = await run(onCpu, { step: 0, w }, 3);
      expect(a.losses.every(Number.isFinite)).toBe(true);
      b.losses.forEach((l, i) => expect(l).toBeCloseTo(a.losses[i], 5));
      let compared = 0;
      for (const [k, v] of Object.entries(a.w))
        v.forEach((x, i) => {
          expect(Math.abs(b.w[k][i] - x), `${k}[${i}]`).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(x));
          compared++;
        });
      expect(compared).toBeGreaterThan(1000);
      // The updates moved the weights (the comparison is of something).
      expect(Object.keys(w).some((k) => a.w[k].some((x, i) => x !== w[k][i]))).toBe(true);
    } finally {
      onGpu.destroy();
      onCpu.destroy();
    }
  });

  it('on the interpreter alone: a resumed run (weights and optimizer state read back) continues bit for bit', async () => {
    const g = graph();
    const w = weights(g);
    const backend = new InterpreterBackend();
    const whole = await TrainStep.compileOn(backend, PORTABLE_PROFILE, g, cfg);
    const first = await TrainStep.compileOn(backend, PORTABLE_PROFILE, g, cfg);
    const second = await TrainStep.compileOn(backend, PORTABLE_PROFILE, g, cfg);
    const all = await run(whole, { step: 0, w }, 4);
    const head = await run(first, { step: 0, w }, 2);
    const tail = await run(second, { step: 2, w: head.w, state: head.state }, 2);
    expect(all.losses).toHaveLength(8);
    expect([...head.losses, ...tail.losses]).toEqual(all.losses);
    for (const k of Object.keys(all.w)) expect([...tail.w[k]], k).toEqual([...all.w[k]]);
    expect(backend.dispatches).toBe(8 * whole.plan.kernels.length);
  });

  it('on the interpreter alone: the NaN guard names the step and the tensor', async () => {
    const g = graph();
    const ts = await TrainStep.compileOn(new InterpreterBackend(), PORTABLE_PROFILE, g, cfg);
    ts.setWeights(weights(g));
    const [batch] = batches(1);
    const image = Float32Array.from(batch.image);
    image[3] = Number.NaN;
    const failed = ts.submit({ ...batch, image }, 1);
    await expect(failed).rejects.toThrow(NonFiniteError);
    await expect(failed).rejects.toThrow(/^non-finite value at step 0: \w+/);
  });

  it('a plan without kernel descriptions (as loaded from an artifact) is refused by the interpreter, by kernel', async () => {
    const g = graph();
    class WithoutDescriptions extends InterpreterBackend {
      override prepare(plan: Plan, binding: Parameters<InterpreterBackend['prepare']>[1]) {
        return super.prepare({ ...plan, kernels: plan.kernels.map(({ ir: _ir, ...k }) => k) }, binding);
      }
    }
    await expect(TrainStep.compileOn(new WithoutDescriptions(), PORTABLE_PROFILE, g, cfg)).rejects.toThrow(
      /interpreter backend: kernel '[^']+' has no description \(a plan loaded from an artifact\)/,
    );
  });
});
