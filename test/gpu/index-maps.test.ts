/**
 * Size-free shaders on WebGPU: the divisions index maps do with sizes from a uniform
 * (divmod_u24 against exact integer division), layout chains through lanes and merged
 * dimensions in both size modes against the Float64 reference, and one shader serving
 * several shapes with the right answers for each.
 */
import { describe, expect, it } from 'vitest';
import { Builder, type Tensor } from '../../src/compiler/builder.ts';
import { helpersFor } from '../../src/compiler/codegen/helpers.ts';
import { compilePlan, type DeviceProfile } from '../../src/compiler/plan.ts';
import type { Value } from '../../src/compiler/ir/value.ts';
import { createStorage, readback } from '../../src/runtime/buffers.ts';
import { PipelineCache } from '../../src/runtime/pipelines.ts';
import { StepRecorder, bindGroup, queueIdle } from '../../src/runtime/recorder.ts';
import { draw, rng } from '../helpers/random.ts';
import { useGpu } from '../helpers/gpu.ts';
import { checkAgainstReference, profileOf } from '../helpers/run-plan.ts';

const DIVMOD = /* wgsl */ `
@group(0) @binding(0) var<storage, read> nd: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read> rcp: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec2<u32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i < arrayLength(&out)) { out[i] = divmod_u24(nd[i].x, nd[i].y, rcp[i]); }
}`;

/** Dividends and divisors where an f32 reciprocal is most likely off by one: near multiples of d, near 2^24. */
function divmodCases(): [number, number][] {
  const r = rng(7);
  const top = 2 ** 24 - 1;
  const ds = [
    1,
    2,
    3,
    5,
    7,
    12,
    64,
    65,
    255,
    256,
    257,
    3129,
    4095,
    65535,
    65537,
    1 << 20,
    (1 << 20) + 1,
    5592405,
    8388607,
    8388609,
    top,
    top + 1,
  ];
  for (let k = 0; k < 40; k++) ds.push(1 + Math.floor(r() * top), 1 + Math.floor(r() * 5000));
  const cases: [number, number][] = [];
  for (const d of ds) {
    const ns = [0, 1, d - 1, d, d + 1, top, top - 1, top - (top % d), top - (top % d) - 1];
    for (let k = 0; k < 24; k++) {
      const m = Math.floor((r() * top) / d) * d;
      ns.push(m, m + 1, m - 1);
    }
    for (let k = 0; k < 24; k++) ns.push(Math.floor(r() * (top + 1)));
    for (const n of ns) if (n >= 0 && n <= top) cases.push([n, d]);
  }
  return cases;
}

describe('size-free shaders on WebGPU', () => {
  const gpu = useGpu();

  it('divmod_u24 equals integer division for every dividend below 2^24 tried', async () => {
    const g = gpu();
    const cases = divmodCases();
    const nd = Uint32Array.from(cases.flat());
    const rcp = Float32Array.from(cases, ([, d]) => 1 / d);
    const out = createStorage(g, new Uint32Array(cases.length * 2));
    const pipe = await new PipelineCache(g).get('divmod', helpersFor(DIVMOD) + DIVMOD);
    const step = new StepRecorder(g);
    step.dispatch(
      pipe,
      bindGroup(g, pipe, [createStorage(g, nd), createStorage(g, rcp), out]),
      Math.ceil(cases.length / 64),
    );
    step.submit();
    await queueIdle(g);
    const got = new Uint32Array(await readback(g, out, cases.length * 8));
    const wrong = cases.filter(([n, d], i) => got[2 * i] !== Math.floor(n / d) || got[2 * i + 1] !== n % d);
    expect(cases.length).toBeGreaterThan(5000);
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  /** Layout chains whose index maps divide: lanes of 4 where sizes allow, merged dimensions, offsets. */
  function layoutGraph(B: number, L: number, D: number): Builder {
    const b = new Builder();
    const x = b.input('x', [B, L, D]);
    const bias = b.input('bias', [D]);
    const perm = x.permute([1, 0, 2]);
    b.output('bias_add', x.add(bias));
    b.output('row_scale', x.mul(b.input('s', [B, L, 1])));
    b.output('permute', perm.add(b.input('y', [L, B, D])));
    b.output('heads', x.reshape([B, L, 2, D / 2]).permute([0, 2, 1, 3]));
    b.output('slice', b.slice(x, [0, 1, 1], [B, L, D - 1]));
    b.output('pad', b.pad(x, [0, 1, 0], [0, 0, 3]));
    b.output('concat', b.concat([x, b.input('z', [B, L, 3])], 2));
    b.output('concat_mid', b.concat([x, x.mul(x)], 1));
    const idx = b.input('ids', [B, L], 'i32');
    b.output('gather', b.gather(b.input('table', [11, D]), idx));
    return b;
  }

  function feeds(b: Builder, seed: number): { inputs: Record<string, Value> } {
    const r = rng(seed);
    return {
      inputs: Object.fromEntries(
        [...b.g.inputs()].map(([k, n]) => [k, draw(r, n.shape, n.dtype === 'i32' ? { int: 11 } : 'real', n.dtype)]),
      ),
    };
  }

  for (const [B, L, D] of [
    [2, 3, 8],
    [3, 5, 6],
    [1, 7, 4],
    [2, 4, 16],
  ]) {
    it(`layout chains at [${B}, ${L}, ${D}] equal the reference with sizes in a uniform and as literals`, async () => {
      const b = layoutGraph(B, L, D);
      // A software adapter's map kernels take 16 elements per thread where every division allows, a GPU's 4.
      const widths = (profile: DeviceProfile) =>
        new Set(
          compilePlan(b.g, profile).kernels.flatMap((k) =>
            k.kind === 'map' ? [Number(/\* (\d+)u;/.exec(k.wgsl)?.[1])] : [],
          ),
        );
      if (D === 16) expect([...widths(profileOf(gpu()))]).toContain(16);
      expect([...widths({ ...profileOf(gpu()), isSoftware: false })]).not.toContain(16);
      for (const sizes of ['uniform', 'inline'] as const)
        await checkAgainstReference(gpu(), b.g, feeds(b, B * 100 + D), { sizes, rtol: 0, atol: 1e-6 });
    });
  }

  // Sizes that coincide (say a stride equal to another extent) can fold into one slot and give a
  // shader of their own, and so can a lane width that one shape allows and the other not: these
  // shapes have neither.
  it('one shader serves several shapes: same sources, different sizes, each shape right', async () => {
    const plans = [
      [3, 5, 8],
      [7, 11, 24],
    ].map(([B, L, D]) => {
      const b = layoutGraph(B, L, D);
      return { b, plan: compilePlan(b.g, profileOf(gpu())) };
    });
    const [p, q] = plans.map((x) => x.plan.kernels);
    expect(p.map((k) => k.wgsl)).toEqual(q.map((k) => k.wgsl));
    expect(p.map((k) => k.sizes)).not.toEqual(q.map((k) => k.sizes));
    expect(p.some((k) => k.wgsl.includes('divmod_u24'))).toBe(true);
    for (const { b } of plans) await checkAgainstReference(gpu(), b.g, feeds(b, 5), { rtol: 0, atol: 1e-6 });
  });

  it('the same MLP step at two batch sizes compiles to the same shaders', () => {
    const mlp = (batch: number) => {
      const b = new Builder();
      const h: Tensor = b
        .input('x', [batch, 32])
        .matmul(b.input('w1', [32, 64]))
        .add(b.input('b1', [64]))
        .gelu();
      b.output('y', h.matmul(b.input('w2', [64, 8])).add(b.input('b2', [8])));
      return compilePlan(b.g, profileOf(gpu())).kernels;
    };
    const [a, c] = [mlp(8), mlp(24)];
    expect(a.map((k) => k.wgsl)).toEqual(c.map((k) => k.wgsl));
    const inline = (batch: number) => {
      const b = new Builder();
      b.output('y', b.input('x', [batch, 32]).matmul(b.input('w1', [32, 64])));
      return compilePlan(b.g, profileOf(gpu()), { sizes: 'inline' }).kernels;
    };
    expect(inline(8)[0].wgsl).not.toEqual(inline(24)[0].wgsl);
    expect(inline(8)[0].sizes).toEqual([]);
  });
});
