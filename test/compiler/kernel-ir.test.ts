/**
 * The kernel description (src/compiler/kernel/) against the Float64 reference, with no shader
 * compiler involved: every op of the op table and a whole training step are lowered to kernel
 * descriptions and run by the CPU interpreter, whose loads and divisions also check the bounds
 * the lowering promises. The WGSL rendered from the same descriptions is checked on WebGPU by
 * test/gpu/ops.test.ts and test/gpu/index-maps.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { compile } from '../../src/compiler/compile.ts';
import type { Graph } from '../../src/compiler/ir/graph.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import type { KExpr, Kernel } from '../../src/compiler/kernel/ir.ts';
import { interpretPlan } from '../../src/compiler/kernel/interpret.ts';
import { describeGroup } from '../../src/compiler/kernel/describe.ts';
import { decodeKernel, encodeKernel } from '../../src/compiler/kernel/serialize.ts';
import { allOps } from '../../src/compiler/ops/index.ts';
import { compilePlan, PORTABLE_PROFILE } from '../../src/compiler/plan.ts';
import { evaluate, type Feeds } from '../../src/compiler/reference.ts';
import { peft } from '../../src/dsl/index.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { draw, rng } from '../helpers/random.ts';
import { expectClose, toF32 } from '../helpers/run-plan.ts';
import { opExampleGraph } from '../helpers/op-example.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';
import { stepFeed } from '../helpers/step-feeds.ts';

/** Asserts the interpreter's outputs match the Float64 reference within f32 tolerances. */
function interpretsAsReference(g: Graph, kernels: { ir?: Kernel }[], feeds: Feeds, rtol: number, atol: number): void {
  const f = toF32(feeds);
  expectClose(interpretPlan(g, kernels, f), evaluate(g, f), rtol, atol);
}

/** Every expression op reachable from a kernel. */
function exprOps(k: Kernel): Set<string> {
  const roots: KExpr[] = [];
  if (k.kind === 'matmul') roots.push(k.a.batch, k.b.batch, ...(k.epilogue ? [k.epilogue] : []));
  else roots.push(k.value, ...(k.kind === 'row' ? k.reductions.map((r) => r.value) : []));
  const ops = new Set<string>();
  const seen = new Set<number>();
  const walk = (e: KExpr) => {
    if (seen.has(e.id)) return;
    seen.add(e.id);
    ops.add(e.op === 'math' ? `math:${e.name}` : e.op);
    e.args.forEach(walk);
  };
  roots.forEach(walk);
  return ops;
}

describe('kernel descriptions on the CPU interpreter vs the Float64 reference', () => {
  for (const op of allOps().filter((o) => o.kind !== 'leaf')) {
    op.examples.forEach((_ex, k) => {
      for (const fuse of [true, false]) {
        it(`${op.name} #${k} ${fuse ? 'fused' : 'op-by-op'}`, () => {
          const { b, inputs } = opExampleGraph(op, k);
          const plan = compilePlan(b.g, PORTABLE_PROFILE, { fuse });
          interpretsAsReference(b.g, plan.kernels, { inputs }, 1e-5, 1e-5);
        });
      }
    });
  }

  it('a whole training step (LoRA with routing, MixPHM, AdamW; fused) gives the reference step', () => {
    const spec = tinyVl()
      .freeze('vision.**')
      .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2, routing: 'inner' }))
      .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 2, bottleneck: 4, kron: 2, rank: 1 }));
    const B = 2;
    const { graph, plan } = compile(spec.spec, { batch: B, mode: 'train' });
    const r = rng(5);
    const inputs: Record<string, Value> = {};
    for (const [name, n] of graph.inputs()) {
      const own = stepFeed(name, n.shape, r);
      if (own) inputs[name] = own;
      else if (name === 'mask') inputs[name] = Value.of(n.shape, new Array(n.shape.reduce((a, c) => a * c, 1)).fill(1));
      else inputs[name] = draw(r, n.shape, n.dtype === 'i32' ? { int: 6 } : 'real', n.dtype);
    }
    const params = Object.fromEntries(
      Object.entries(initialWeights(graph, 7)).map(([k, v]) => [k, Value.of(graph.leaf('param', k)!.shape, [...v])]),
    );
    // Every kernel shape and the index maps of a transformer step are exercised.
    const kinds = new Set(plan.kernels.map((k) => k.ir!.kind));
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['map', 'matmul', 'reduce', 'row']));
    const ops = new Set(plan.kernels.flatMap((k) => [...exprOps(k.ir!)]));
    for (const o of ['div', 'mod', 'load', 'add', 'mul', 'select', 'uniform', 'math:exp']) expect(ops, o).toContain(o);
    interpretsAsReference(graph, plan.kernels, { inputs, params }, 2e-3, 2e-4);
    // Kept as JSON (artifacts): each description decodes to one that encodes the same and runs bit for bit alike.
    const stored = plan.kernels.map((k) => JSON.parse(JSON.stringify(encodeKernel(k.ir!))));
    const decoded = stored.map((e) => ({ ir: decodeKernel(e) }));
    decoded.forEach((d, i) => expect(encodeKernel(d.ir), plan.kernels[i].name).toEqual(stored[i]));
    const f = toF32({ inputs, params });
    const [a, b] = [interpretPlan(graph, plan.kernels, f), interpretPlan(graph, decoded, f)];
    for (const k of Object.keys(a)) expect([...b[k]], k).toEqual([...a[k]]);
  });

  it('one description per group, and equal groups lower to equal expressions (hash-consing)', () => {
    const b = new Builder();
    const x = b.input('x', [4, 6]);
    const w = b.input('w', [6]);
    b.output('y', x.mul(w).add(x.mul(w)).exp());
    const plan = compilePlan(b.g, PORTABLE_PROFILE);
    expect(plan.kernels).toHaveLength(1);
    const k = plan.kernels[0].ir!;
    expect(k.kind).toBe('map');
    if (k.kind !== 'map') return;
    // exp(add(m, m)) with the two products one node: the same (node, index) pair, one expression.
    const add = k.value.args[0];
    expect(add.op).toBe('math');
    expect(add.args[0]).toBe(add.args[1]);
    // Lowering is deterministic: the group lowers again to the same structure.
    const again = describeGroup(
      { graph: b.g, isMaterialized: (id) => b.g.get(id).op === 'input' || id === k.out },
      { kind: 'map', root: k.out, nodes: plan.kernels[0].nodes, reads: k.reads },
    );
    expect(JSON.stringify(again, (_, v) => (v instanceof Set ? [...v] : v))).toBe(
      JSON.stringify(k, (_, v) => (v instanceof Set ? [...v] : v)),
    );
  });

  it('sibling map kernels: one dispatch for outputs over the same elements, the same values as apart', () => {
    const b = new Builder();
    const x = b.input('x', [6, 8]);
    const w = b.input('w', [8]);
    const y1 = x.mul(w).exp();
    b.output('y1', y1);
    // Reads y1, an output of the kernel it joins: computed there, not loaded.
    b.output('y2', y1.mul(x).add(1));
    b.output('y3', x.permute([1, 0]).reshape([6, 8]).sub(w));
    // Needs a reduction of y1, which runs after y1's kernel: it must not join it.
    b.output('y4', x.mul(y1.sum([0], true)));
    const feeds = { inputs: { x: draw(rng(4), [6, 8]), w: draw(rng(5), [8]) } };
    const plan = compilePlan(b.g, PORTABLE_PROFILE);
    const host = plan.kernels.find((k) => k.root === b.g.outputs.get('y1'))!;
    expect(host.siblings).toEqual([b.g.outputs.get('y2'), b.g.outputs.get('y3')]);
    expect(plan.kernels.find((k) => k.root === b.g.outputs.get('y4'))).toBeDefined();
    const apart = compilePlan(b.g, PORTABLE_PROFILE, { siblings: false });
    expect(apart.kernels.length).toBe(plan.kernels.length + 2);
    // Bindings: reads, then out, out1, out2 (and the sizes uniform after them).
    expect(plan.bindings[plan.kernels.indexOf(host)]).toHaveLength(host.reads.length + 3);
    interpretsAsReference(b.g, plan.kernels, feeds, 1e-6, 1e-6);
    interpretsAsReference(b.g, apart.kernels, feeds, 1e-6, 1e-6);
  });

  it('siblings never exceed the binding limit', () => {
    const b = new Builder();
    const xs = Array.from({ length: 6 }, (_, k) => b.input(`x${k}`, [4, 4]));
    xs.forEach((x, k) => b.output(`y${k}`, x.mul(xs[(k + 1) % 6]).add(k)));
    const plan = compilePlan(b.g, PORTABLE_PROFILE);
    for (const [i, k] of plan.kernels.entries())
      expect(plan.bindings[i].length, k.name).toBeLessThanOrEqual(PORTABLE_PROFILE.maxStorageBuffersPerShaderStage);
    expect(plan.kernels.some((k) => k.siblings?.length)).toBe(true);
    expect(plan.kernels.length).toBeLessThan(6);
  });

  it('the interpreter refuses a division past the bound the lowering promised', () => {
    const b = new Builder();
    const x = b.input('x', [4, 6]);
    b.output('y', x.permute([1, 0]).exp());
    const plan = compilePlan(b.g, PORTABLE_PROFILE);
    const k = plan.kernels[0].ir!;
    if (k.kind !== 'map') throw new Error('expected a map kernel');
    // Claim 2 more elements than the tensor has: the permute's divisions go past their bound.
    expect(() =>
      interpretPlan(b.g, [{ ir: { ...k, n: k.n + 2 } }], toF32({ inputs: { x: draw(rng(1), [4, 6]) } })),
    ).toThrow(/bound|outside/);
  });
});
