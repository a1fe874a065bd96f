/** Compile a graph to a plan for the test device, run it, and compare with the reference. */
import { expect } from 'vitest';
import type { Graph } from '../../src/compiler/ir/graph.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { compilePlan, type DeviceProfile, type PlanOptions } from '../../src/compiler/plan.ts';
import { evaluate, type Feeds } from '../../src/compiler/reference.ts';
import { Executor, type HostArray } from '../../src/runtime/executor.ts';
import type { Backend } from '../../src/runtime/backend.ts';
import type { Gpu } from '../../src/runtime/device.ts';
import { profileOf } from '../../src/runtime/profile.ts';

export { profileOf };

/** Rounds every fed value to f32, so the reference sees exactly what the GPU sees. */
export function toF32(feeds: Feeds): Feeds {
  const r = (m?: Record<string, Value>) =>
    m &&
    Object.fromEntries(
      Object.entries(m).map(([k, v]) => [
        k,
        new Value(v.shape, v.dtype === 'f32' ? v.data.map(Math.fround) : v.data, v.dtype),
      ]),
    );
  return { inputs: r(feeds.inputs), params: r(feeds.params) };
}

export async function runOnGpu(
  gpu: Gpu,
  g: Graph,
  feeds: Feeds,
  opts: PlanOptions & { profile?: DeviceProfile; backend?: Backend } = {},
): Promise<Record<string, HostArray>> {
  // f32 storage unless a test asks for half: the f32 tolerances below assume it.
  const plan = compilePlan(g, opts.profile ?? profileOf(gpu), {
    ...opts,
    halfActivations: opts.halfActivations ?? false,
  });
  // The same plan on another backend (the kernel interpreter) when asked.
  const ex = opts.backend ? await Executor.on(opts.backend, plan) : await Executor.create(gpu, plan);
  try {
    for (const [k, v] of Object.entries(feeds.params ?? {})) if (plan.params[k]) ex.setParam(k, v.data);
    const inputs = Object.fromEntries(
      Object.entries(feeds.inputs ?? {})
        .filter(([k]) => plan.inputs[k])
        .map(([k, v]) => [k, v.data]),
    );
    return await ex.run(inputs, [...g.outputs.keys()]);
  } finally {
    ex.destroy();
  }
}

/** Asserts GPU outputs match the Float64 reference within f32 tolerances. */
export function expectClose(
  got: Record<string, HostArray>,
  want: Record<string, Value>,
  rtol = 1e-5,
  atol = 1e-5,
): void {
  for (const [name, v] of Object.entries(want)) {
    const g = got[name];
    expect(g, `output ${name}`).toBeDefined();
    expect(g.length, `output ${name} length`).toBe(v.data.length);
    for (let i = 0; i < v.data.length; i++) {
      const err = Math.abs(g[i] - v.data[i]);
      if (!(err <= atol + rtol * Math.abs(v.data[i]))) {
        expect.fail(`output ${name}[${i}]: gpu ${g[i]}, reference ${v.data[i]} (|diff| ${err.toExponential(2)})`);
      }
    }
  }
}

export async function checkAgainstReference(
  gpu: Gpu,
  g: Graph,
  feeds: Feeds,
  opts: PlanOptions & { rtol?: number; atol?: number; profile?: DeviceProfile; backend?: Backend } = {},
) {
  const f = toF32(feeds);
  const want = evaluate(g, f);
  const got = await runOnGpu(gpu, g, f, opts);
  expectClose(got, want, opts.rtol, opts.atol);
  return got;
}
