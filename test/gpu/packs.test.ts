/**
 * Packs written in place (passes/fuse.ts packParts, passes/memory.ts views): the parts of an
 * aligned axis-0 concat are written straight into the pack's buffer by their own kernels (a
 * matmul, a reduction, a map kernel) or uploads (a param, an input), bound at their offsets,
 * and the pack is read as one buffer. Checked against the Float64 reference on the kernel
 * interpreter and on WebGPU (where a wrong binding offset or a dirty pad shows), and the plans'
 * structure: no concat kernel when in place, ordinary kernels when a part cannot be.
 */
import { stepFeed } from '../helpers/step-feeds.ts';
import { describe, expect, it } from 'vitest';
import { Builder, type Tensor } from '../../src/compiler/builder.ts';
import { compile } from '../../src/compiler/compile.ts';
import type { Graph } from '../../src/compiler/ir/graph.ts';
import { interpretPlan } from '../../src/compiler/kernel/interpret.ts';
import { compilePlan, PORTABLE_PROFILE, type Plan } from '../../src/compiler/plan.ts';
import { evaluate, type Feeds } from '../../src/compiler/reference.ts';
import { peft } from '../../src/dsl/index.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { draw, rng } from '../helpers/random.ts';
import { useGpu } from '../helpers/gpu.ts';
import { checkAgainstReference, expectClose, profileOf, toF32 } from '../helpers/run-plan.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

/**
 * Parts of every kind of writer, padded to 64 elements (or not: `align` false), read back as one
 * pack. `dependent`: a part computed from another part (its kernel would read the pack it writes).
 */
function packGraph(o: { align?: boolean; partIsOutput?: boolean; dependent?: boolean } = {}): {
  g: Graph;
  feeds: Feeds;
} {
  const b = new Builder();
  const a = b.input('a', [5, 7]);
  const x = b.input('x', [3, 4]);
  const w = b.param('w', [7, 3], { trainable: true, init: { kind: 'zeros' } });
  const mm = a.matmul(b.param('w2', [7, 3], { trainable: true, init: { kind: 'zeros' } })); // a matmul's output
  const red = a.sum([1]); // a reduction's
  const el = (o.dependent ? x : a).mul(2).exp(); // a map kernel's
  const flat = (t: Tensor) => {
    const n = t.shape.reduce((p, q) => p * q, 1);
    const f = t.reshape([n]);
    return o.align === false || n % 64 === 0 ? f : b.pad(f, [0], [64 - (n % 64)]);
  };
  const pack = b.concat([mm, red, el, w, x].map(flat), 0);
  const rows = o.align === false ? 1 : pack.shape[0] / 64;
  // Read as one buffer: a row reduction over it (pads included) and an elementwise use.
  b.output(
    'rows',
    pack
      .mul(pack)
      .reshape([rows, pack.shape[0] / rows])
      .sum([1]),
  );
  b.output('scaled', pack.mul(0.5).add(1));
  if (o.partIsOutput) b.output('mm', mm);
  const r = rng(3);
  return {
    g: b.g,
    feeds: {
      inputs: { a: draw(r, [5, 7], 'real'), x: draw(r, [3, 4], 'real') },
      params: { w: draw(r, [7, 3], 'real'), w2: draw(r, [7, 3], 'real') },
    },
  };
}

const views = (plan: Plan) => plan.buffers.filter((b) => b.view);
const concatKernels = (plan: Plan) => plan.kernels.filter((k) => k.name.includes('concat'));

describe('packs written in place', () => {
  const gpu = useGpu();

  it('aligned parts are views of one buffer and no kernel concatenates; the values are the reference', async () => {
    const { g, feeds } = packGraph();
    const plan = compilePlan(g, PORTABLE_PROFILE);
    expect(concatKernels(plan)).toHaveLength(0);
    const v = views(plan);
    expect(v).toHaveLength(5);
    expect(new Set(v.map((b) => b.view!.of)).size).toBe(1);
    // Offsets follow the concat's order, each a multiple of 256 bytes.
    expect(v.map((b) => b.view!.offset).sort((a, c) => a - c)).toEqual([0, 256, 512, 768, 1024]);
    expect(plan.buffers[plan.params.w.buffer].view).toBeDefined();
    expect(plan.buffers[plan.inputs.x.buffer].view).toBeDefined();
    expect(plan.buffers[plan.params.w2.buffer].view).toBeUndefined();
    const f = toF32(feeds);
    expectClose(interpretPlan(g, plan.kernels, f), evaluate(g, f), 1e-5, 1e-5);
    await checkAgainstReference(gpu(), g, feeds, { rtol: 1e-5, atol: 1e-5 });
  });

  it('the same on a GPU profile with f16 temporaries: parts stay f32', async () => {
    const { g, feeds } = packGraph();
    const hardware = { ...profileOf(gpu()), isSoftware: false };
    const plan = compilePlan(g, hardware, { halfActivations: true });
    expect(views(plan)).toHaveLength(5);
    await checkAgainstReference(gpu(), g, feeds, { profile: hardware, halfActivations: true, rtol: 1e-5, atol: 1e-5 });
  });

  it('a part that is also a graph output, misaligned parts, or a part computed from another: ordinary concat kernels, the same values', async () => {
    // The last: its kernel would bind the pack's buffer read-only and writable at once, which
    // WebGPU rejects (the dispatch is dropped: zeros, as this test saw before the rule).
    for (const o of [{ partIsOutput: true }, { align: false }, { dependent: true }]) {
      const { g, feeds } = packGraph(o);
      const plan = compilePlan(g, PORTABLE_PROFILE);
      expect(views(plan), JSON.stringify(o)).toHaveLength(0);
      expect(concatKernels(plan).length).toBeGreaterThan(0);
      await checkAgainstReference(gpu(), g, feeds, { rtol: 1e-5, atol: 1e-5 });
    }
  });

  it("a training step updates every param in a few kernels: the params are one pack, the gradients' kernels write another", () => {
    const spec = tinyVl()
      .freeze('vision.**')
      .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2 }))
      .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 2, bottleneck: 4, kron: 2, rank: 1 }));
    const { plan, step, graph } = compile(spec.spec, { batch: 2, mode: 'train' });
    const info = step!;
    expect(info.packs).toHaveLength(1);
    expect(info.params.length).toBeGreaterThan(8);
    const roots = new Set(info.params.map((p) => plan.buffers[plan.params[p].buffer].view?.of));
    expect([...roots]).toHaveLength(1);
    for (const m of info.packs[0].members)
      expect(plan.buffers[plan.params[m.param].buffer].view!.offset).toBe(m.offset * 4);
    // The gradient pack: one buffer of the pack role, holding a view per gradient.
    const gradPack = plan.buffers.filter((b) => b.role === 'pack' && !b.view);
    expect(gradPack).toHaveLength(1);
    expect(plan.buffers.filter((b) => b.view?.of === gradPack[0].id)).toHaveLength(info.params.length);
    // Norm rows, total and the update: no kernel per tensor.
    const optimizer = plan.kernels.filter((k) => k.nodes.some((id) => graph.get(id).scope?.startsWith('optimizer')));
    expect(optimizer.length).toBeLessThanOrEqual(4);
  });

  it('packs split at the binding size: each is in place, and the step is the reference step', () => {
    const spec = tinyVl()
      .freeze('vision.**')
      .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2 }));
    // 16 KiB bindings: at most 4096 elements per pack.
    const small = { ...PORTABLE_PROFILE, maxStorageBufferBindingSize: 16384 };
    const { plan, step, graph } = compile(spec.spec, { batch: 2, mode: 'train', profile: small, verify: true });
    expect(step!.packs.length).toBeGreaterThan(1);
    for (const p of step!.packs) {
      expect(p.elements).toBeLessThanOrEqual(4096);
      expect(new Set(p.members.map((m) => plan.buffers[plan.params[m.param].buffer].view?.of)).size).toBe(1);
    }
    const r = rng(9);
    const inputs: Record<string, Value> = {};
    for (const [name, n] of graph.inputs()) {
      const own = stepFeed(name, n.shape, r, 0.01);
      if (own) inputs[name] = own;
      else if (name === 'mask') inputs[name] = Value.of(n.shape, new Array(n.shape.reduce((a, c) => a * c, 1)).fill(1));
      else inputs[name] = draw(r, n.shape, n.dtype === 'i32' ? { int: 6 } : 'real', n.dtype);
    }
    const params = Object.fromEntries([...graph.params()].map(([k, n]) => [k, draw(r, n.shape, 'real')]));
    const f = toF32({ inputs, params });
    expectClose(interpretPlan(graph, plan.kernels, f), evaluate(graph, f), 2e-3, 2e-4);
  });
});
