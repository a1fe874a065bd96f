/** Whole graphs on WebGPU: fusion, memory planning, binding limits, and a transformer's gradients. */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { attention, layerNorm, softmax } from '../../src/compiler/composites.ts';
import { autodiff } from '../../src/compiler/autodiff.ts';
import { simplify } from '../../src/compiler/passes/simplify.ts';
import { compilePlan, PORTABLE_PROFILE } from '../../src/compiler/plan.ts';
import type { MatmulVariant } from '../../src/compiler/codegen/kernels.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import type { Value } from '../../src/compiler/ir/value.ts';
import { draw, rng } from '../helpers/random.ts';
import { useGpu } from '../helpers/gpu.ts';
import { checkAgainstReference, expectClose, profileOf, runOnGpu, toF32 } from '../helpers/run-plan.ts';
import { tinyFeeds, tinyTransformer } from '../helpers/tiny-transformer.ts';
import { Executor } from '../../src/runtime/executor.ts';

function inputsFor(b: Builder, seed = 3): Record<string, Value> {
  const r = rng(seed);
  return Object.fromEntries([...b.g.inputs()].map(([k, n]) => [k, draw(r, n.shape, 'real', n.dtype)]));
}

describe('plans on WebGPU', () => {
  const gpu = useGpu();

  it('a WebGPU validation error while a plan runs is thrown, never returned as zeros', async () => {
    const b = new Builder();
    b.output('y', b.input('x', [64]).exp());
    const plan = compilePlan(b.g, profileOf(gpu()));
    const ex = await Executor.create(gpu(), plan);
    // A buffer destroyed under the plan: Dawn refuses the submission and writes nothing.
    (ex as unknown as { buffers: GPUBuffer[] }).buffers[plan.outputs.y.buffer].destroy();
    try {
      await expect(ex.run({ x: new Float32Array(64) }, ['y'])).rejects.toThrow(
        /WebGPU reported \d+ errors? while running the plan: /,
      );
    } finally {
      ex.destroy();
      gpu().uncapturedErrors.length = 0; // seen and asserted: not a stray error at teardown
    }
  });

  it('softmax, layer norm and attention: fused equals op-by-op equals reference', async () => {
    const b = new Builder();
    const x = b.input('x', [2, 5, 8]);
    b.output('sm', softmax(b, x));
    b.output('ln', layerNorm(b, x, b.input('g', [8]), b.input('c', [8])));
    b.output('att', attention(b, { q: x, k: x, v: x, heads: 2, keyMask: b.input('m', [2, 5]) }));
    const inputs = inputsFor(b);
    inputs.m.data.set([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    const fused = await checkAgainstReference(gpu(), b.g, { inputs }, { fuse: true });
    const unfused = await checkAgainstReference(gpu(), b.g, { inputs }, { fuse: false });
    for (const k of Object.keys(fused))
      fused[k].forEach((v, i) => expect(Math.abs(v - unfused[k][i])).toBeLessThan(1e-5));
    const pf = compilePlan(b.g, profileOf(gpu()), { fuse: true });
    const pu = compilePlan(b.g, profileOf(gpu()), { fuse: false });
    expect(pf.kernels.length).toBeLessThan(pu.kernels.length * 0.65);
  });

  it('joint forward+backward of a 2-layer transformer with LoRA: gradients match the reference to 1e-4', async () => {
    const { graph } = tinyTransformer({ layers: 2, loraLayers: [0, 1], d: 16, L: 6, B: 3 });
    const { graph: joint } = autodiff(graph, { loss: 'loss' });
    const { graph: g } = simplify(joint);
    const feeds = toF32(tinyFeeds(graph));
    const want = evaluate(g, feeds);
    for (const fuse of [true, false]) {
      const got = await runOnGpu(gpu(), g, feeds, { fuse });
      expectClose(got, want, 1e-4, 1e-6);
    }
    expect(Object.keys(want).filter((k) => k.startsWith('grad:')).length).toBe(10); // 8 LoRA factors + head W, b
  });

  it('f16 storage of activations (f32 math) halves temporaries and stays within f16 tolerance', async () => {
    if (!gpu().hasF16) throw new Error('this adapter has no shader-f16; lavapipe has it, so CI must too');
    const { graph } = tinyTransformer({ layers: 2, loraLayers: [0, 1], d: 16, L: 6, B: 3 });
    const { graph: g } = simplify(autodiff(graph, { loss: 'loss' }).graph);
    const feeds = toF32(tinyFeeds(graph));
    const p32 = compilePlan(g, profileOf(gpu()), { halfActivations: false });
    const p16 = compilePlan(g, profileOf(gpu()), { halfActivations: true });
    expect(p16.stats.halfActivations).toBe(true);
    expect(p16.kernels.some((k) => k.wgsl.includes('array<f16>'))).toBe(true);
    const temps = (p: typeof p32) => p.buffers.filter((b) => b.role === 'temp').reduce((s, b) => s + b.bytes, 0);
    expect(temps(p16)).toBeLessThanOrEqual(temps(p32) * 0.55);
    const want = evaluate(g, feeds);
    const got = await runOnGpu(gpu(), g, feeds, { halfActivations: true });
    // f16 keeps ~3 significant digits: compare relative to each output's scale.
    for (const [k, v] of Object.entries(want)) {
      const scale = Math.max(...v.data.map(Math.abs), 1e-3);
      v.data.forEach((x, i) => expect(Math.abs(got[k][i] - x), `${k}[${i}]`).toBeLessThan(2e-2 * scale));
    }
  });

  it('sibling map kernels (several outputs per dispatch, 1 and 4 elements per thread) equal the reference', async () => {
    for (const [rows, cols] of [
      [6, 8],
      [5, 7],
    ]) {
      const b = new Builder();
      const x = b.input('x', [rows, cols]);
      const w = b.input('w', [cols]);
      const y1 = x.mul(w).tanh();
      b.output('y1', y1);
      b.output('y2', y1.mul(y1).add(x));
      b.output('y3', x.sub(w).exp());
      const plan = compilePlan(b.g, profileOf(gpu()));
      expect(plan.kernels.filter((k) => k.siblings?.length)).toHaveLength(1);
      const got = await checkAgainstReference(gpu(), b.g, { inputs: inputsFor(b) });
      expect(Object.keys(got).sort()).toEqual(['y1', 'y2', 'y3']);
    }
  });

  it('with f16 activations, a reshape of an f32 buffer (an output) is read as f32', async () => {
    // The alias shares the output's buffer: planned as an f16 temp, it was read as halves (garbage).
    const b = new Builder();
    const x = b.input('x', [4, 8]);
    const y = x.mul(b.input('w', [8])).exp();
    b.output('y', y);
    b.output(
      'z',
      y
        .reshape([2, 16])
        .matmul(b.input('W', [16, 4]))
        .tanh(),
    );
    await checkAgainstReference(
      gpu(),
      b.g,
      { inputs: inputsFor(b) },
      { halfActivations: true, rtol: 1e-2, atol: 1e-2 },
    );
  });

  it('GPU profiles load buffers read at their own index as vec4s (f32 and f16 storage), equal to the reference', async () => {
    const b = new Builder();
    const x = b.input('x', [6, 16]);
    const h = x.matmul(b.input('W', [16, 16]));
    // x and h are read at the element's own index (vec4); w is broadcast (scalar loads). h has a
    // second reader, so it is a buffer (a half one with f16 activations), not an epilogue.
    b.output(
      'y',
      h
        .mul(x)
        .add(b.input('w', [16]))
        .tanh(),
    );
    b.output('s', h.sum([0]));
    const hardware = { ...profileOf(gpu()), isSoftware: false };
    for (const halfActivations of [false, true]) {
      const plan = compilePlan(b.g, hardware, { halfActivations });
      const map = plan.kernels.find((k) => k.kind === 'map')!;
      expect(map.wgsl).toContain(halfActivations ? 'array<vec4<f16>>' : 'array<vec4<f32>>');
      expect(map.wgsl).toMatch(/var<storage, read> in\d+: array<f32>;/); // w stays scalar
      expect(
        compilePlan(b.g, profileOf(gpu())).kernels.some((k) => k.wgsl.includes('vec4<f')),
        'not on lavapipe',
      ).toBe(false);
      await checkAgainstReference(
        gpu(),
        b.g,
        { inputs: inputsFor(b) },
        {
          profile: hardware,
          halfActivations,
          rtol: halfActivations ? 2e-2 : 1e-5,
          atol: halfActivations ? 2e-2 : 1e-5,
        },
      );
    }
  });

  it('splits a group that would bind more storage buffers than allowed', async () => {
    const b = new Builder();
    const xs = Array.from({ length: 10 }, (_, i) => b.input(`x${i}`, [4]));
    b.output(
      'y',
      xs.reduce((acc, x) => acc.add(x.exp())),
    );
    const profile = { ...profileOf(gpu()), maxStorageBuffersPerShaderStage: 4 };
    const plan = compilePlan(b.g, profile);
    for (const k of plan.kernels) expect(k.reads.length + 1).toBeLessThanOrEqual(4);
    await checkAgainstReference(gpu(), b.g, { inputs: inputsFor(b) }, { profile });
  });

  it('reuses temporaries and reports peak memory with and without reuse', () => {
    const { graph } = tinyTransformer({ layers: 3, loraLayers: [2], d: 16 });
    const { graph: g } = simplify(autodiff(graph, { loss: 'loss' }).graph);
    const plan = compilePlan(g, PORTABLE_PROFILE, { fuse: false });
    expect(plan.stats.peakBytes).toBeLessThan(plan.stats.peakBytesNoReuse * 0.8);
    // No kernel writes a buffer it reads.
    plan.bindings.forEach((bs) => expect(bs.slice(0, -1)).not.toContain(bs[bs.length - 1]));
  });

  it('refuses at compile time a buffer over the buffer size limit, naming the node (over the binding limit it is split)', () => {
    const b = new Builder();
    b.scope('text.layers.0.ffn', () => b.output('y', b.input('x', [1024]).broadcastTo([1024, 1024]).exp()));
    const profile = { ...PORTABLE_PROFILE, maxStorageBufferBindingSize: 1 << 20, maxBufferSize: 1 << 21 };
    expect(() => compilePlan(b.g, profile)).toThrow(
      /exp %2 in 'text.layers.0.ffn' f32\[1024, 1024\] needs 4194304 bytes, over the device's buffer size limit \(maxBufferSize\) of 2097152/,
    );
    expect(compilePlan(b.g, { ...profile, maxBufferSize: 1 << 22 }).bindings[0]).toHaveLength(1 + 4);
  });

  it('fuses bias, activation, scale and residual into the matmul kernel (every family)', async () => {
    const b = new Builder();
    const x = b.input('x', [2, 5, 12]);
    const y = x
      .matmul(b.input('w', [12, 8]))
      .add(b.input('bias', [8]))
      .gelu()
      .mul(0.5)
      .add(b.input('res', [2, 5, 8]));
    b.output('y', y);
    const inputs = inputsFor(b);
    const variants = [
      { family: 'reg', tm: 4, tn: 4, wgx: 8, wgy: 8 },
      { family: 'reg4', tm: 4, tn4: 1, wgx: 8, wgy: 8 },
      { family: 'packed', tm: 3, tn: 5, wg: 8 },
      { family: 'tiled' },
    ] as const;
    for (const v of variants) {
      const plan = compilePlan(b.g, profileOf(gpu()), { matmulVariant: () => v });
      expect(plan.kernels.map((k) => k.kind)).toEqual(['matmul']);
      await checkAgainstReference(gpu(), b.g, { inputs }, { matmulVariant: () => v });
    }
  });

  it('matmul kernels are correct for odd sizes, K = 1, transposes and batch broadcast, in both families', async () => {
    const shapes: [number[], number[], boolean, boolean][] = [
      [[1, 1], [1, 1], false, false],
      [[7, 1], [1, 9], false, false],
      [[13, 17], [17, 5], false, false],
      [[17, 13], [5, 17], true, true],
      [[3, 65, 33], [33, 67], false, false],
      [[2, 1, 9, 4], [3, 11, 4], false, true],
    ];
    const variants: MatmulVariant[] = [
      { family: 'reg', tm: 4, tn: 4, wgx: 8, wgy: 8 },
      { family: 'packed', tm: 9, tn: 8, wg: 64 },
      { family: 'packed', tm: 2, tn: 3, wg: 8 },
      { family: 'tiled' },
    ];
    for (const variant of variants) {
      for (const [sa, sb, transA, transB] of shapes) {
        const b = new Builder();
        b.output('y', b.input('a', sa).matmul(b.input('b', sb), { transA, transB }));
        await checkAgainstReference(gpu(), b.g, { inputs: inputsFor(b) }, { matmulVariant: () => variant });
      }
    }
  });

  it('batched small blocks take packed tiles fitted to them on a software adapter, with every batch entry right', async () => {
    // Attention's shapes: [B, heads] of L x d_head by d_head x L (B transposed), then by V.
    const b = new Builder();
    const q = b.input('q', [3, 2, 17, 16]);
    const k = b.input('k', [3, 2, 17, 16]);
    const s = q.matmul(k, { transB: true });
    b.output('o', s.matmul(b.input('v', [3, 2, 17, 16])));
    const profile = { ...profileOf(gpu()), isSoftware: true };
    const mms = compilePlan(b.g, profile).kernels.filter((x) => x.kind === 'matmul');
    expect(mms.map((x) => x.variant)).toEqual([
      { family: 'packed', tm: 9, tn: 9, wg: 8 }, // 6 entries x 4 tiles: 24 threads
      { family: 'packed', tm: 9, tn: 8, wg: 8 },
    ]);
    await checkAgainstReference(gpu(), b.g, { inputs: inputsFor(b) }, { profile });
    // A weight shared by the batch folds into one unbatched matmul: it keeps 'reg' tiles.
    const w = new Builder();
    w.output('y', w.input('x', [32, 65, 16]).matmul(w.input('w', [16, 64])));
    expect(compilePlan(w.g, profile).kernels[0].variant).toEqual({ family: 'reg', tm: 8, tn: 8, wgx: 8, wgy: 8 });
  });

  it('an output too small for four 64-thread workgroups of 8x8 tiles takes packed 8-thread groups', async () => {
    // A LoRA factor's weight gradient: 272 rows reduced into 64 x 8 outputs (8 tiles).
    const b = new Builder();
    b.output('dw', b.input('x', [272, 64]).matmul(b.input('g', [272, 8]), { transA: true }));
    const profile = { ...profileOf(gpu()), isSoftware: true };
    const [mm] = compilePlan(b.g, profile).kernels;
    expect(mm.variant).toEqual({ family: 'packed', tm: 8, tn: 8, wg: 8 });
    expect(mm.workgroups).toEqual([1, 1, 1]);
    await checkAgainstReference(gpu(), b.g, { inputs: inputsFor(b) }, { profile });
  });

  it('a batch of A under one shared B runs as one matmul of batch x M rows, epilogues included', async () => {
    const b = new Builder();
    const x = b.input('x', [3, 17, 12]);
    const y = x.matmul(b.input('w', [12, 20]));
    // Epilogue operands broadcast per column (bias), per row of each example (scale) and whole (residual).
    b.output(
      'y',
      y
        .add(b.input('bias', [20]))
        .mul(b.input('s', [3, 17, 1]))
        .add(b.input('res', [3, 17, 20])),
    );
    for (const family of ['reg', 'tiled'] as const) {
      const variant = family === 'reg' ? { family, tm: 8, tn: 4, wgx: 8, wgy: 8 } : { family };
      const plan = compilePlan(b.g, profileOf(gpu()), { matmulVariant: () => variant });
      const mm = plan.kernels.find((k) => k.kind === 'matmul')!;
      expect(mm.workgroups[2]).toBe(1); // one matmul, not 3
      expect(mm.sizes.slice(0, 3)).toEqual([51, 20, 12]); // M = 3 x 17
      await checkAgainstReference(gpu(), b.g, { inputs: inputsFor(b) }, { matmulVariant: () => variant });
    }
  });

  it('long reductions planned for a GPU (a workgroup per output, tree-combined) equal the reference', async () => {
    const b = new Builder();
    const x = b.input('x', [3, 9000]);
    const long = b.input('l', [1 << 16]);
    b.output('sumsq', x.mul(x).sum([1])); // fused prologue, contiguous axis
    b.output('max', x.max([1], true));
    b.output('over0', b.input('y', [9000, 3]).sum([0])); // reduced axis not innermost
    b.output('total', long.sum());
    b.output('short', x.sum([0])); // 9000 outputs of 3: stays a thread per output
    // A hardware adapter's profile (as a GPU gets it), run here.
    const profile = { ...profileOf(gpu()), isSoftware: false };
    const plan = compilePlan(b.g, profile);
    expect(plan.kernels.filter((k) => k.wgsl.includes('var<workgroup> part')).length).toBe(4);
    await checkAgainstReference(gpu(), b.g, { inputs: inputsFor(b) }, { profile, rtol: 1e-5, atol: 1e-3 });
    // lavapipe's own profile keeps them serial (no faster there; the example's numerics unchanged).
    expect(compilePlan(b.g, profileOf(gpu())).kernels.some((k) => k.wgsl.includes('var<workgroup> part'))).toBe(false);
  });
});
