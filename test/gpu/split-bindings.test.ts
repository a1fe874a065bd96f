/**
 * Tensors over the binding size limit (passes/split-bindings.ts): planned for a forced tiny
 * limit, each op reads and writes its split tensors through range accessors and must give what
 * the unsplit plan gives (the same kernels' arithmetic: bit for bit) and what the Float64
 * reference gives. The ops the issue names: the gather of an embedding lookup, a tied LM head
 * `h @ wte^T` and its gradients (a scatter into the table), softmax and cross-entropy over a split
 * vocabulary row, and the packed optimizer over a split trainable tensor (full finetuning), then
 * random shapes and limits in the style of the fuzz suite.
 */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { autodiff, gradName } from '../../src/compiler/autodiff.ts';
import { crossEntropy, softmax } from '../../src/compiler/composites.ts';
import type { Graph } from '../../src/compiler/ir/graph.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { compilePlan, PORTABLE_PROFILE, type Plan } from '../../src/compiler/plan.ts';
import { CHUNK_ALIGN } from '../../src/compiler/passes/split-bindings.ts';
import type { Feeds } from '../../src/compiler/reference.ts';
import { peft, vl } from '../../src/dsl/index.ts';
import type { Gpu } from '../../src/runtime/device.ts';
import { train, trainConfig } from '../../src/train/trainer.ts';
import { useGpu } from '../helpers/gpu.ts';
import { draw, rng } from '../helpers/random.ts';
import { checkAgainstReference, expectClose, profileOf, runOnGpu, toF32 } from '../helpers/run-plan.ts';
import { InterpreterBackend } from '../../src/runtime/interpreter-backend.ts';

/** The device as a planner sees it with a smaller binding limit; the plan then runs on the real device. */
const limited = (gpu: Gpu, bytes: number): Gpu => ({
  ...gpu,
  limits: { ...gpu.limits, maxStorageBufferBindingSize: bytes },
});

/** Plan buffers bound as ranges of a larger buffer (views that are not packed parts). */
const ranges = (plan: Plan) => plan.buffers.filter((b) => b.label.includes('[range '));

/**
 * Runs `g` split (binding limit `bytes`) and unsplit: equal to each other bit for bit, and to the
 * reference. `hardware`: planned as for a GPU (tiled matmuls, workgroup reductions, vec4 loads).
 */
async function splitEqualsUnsplit(
  gpu: Gpu,
  g: Graph,
  feeds: Feeds,
  bytes: number,
  tol = { rtol: 1e-5, atol: 1e-5 },
  hardware = false,
) {
  const base = { ...profileOf(gpu), ...(hardware ? { isSoftware: false } : {}) };
  const profile = { ...base, maxStorageBufferBindingSize: bytes };
  const plan = compilePlan(g, profile, { halfActivations: false });
  expect(ranges(plan).length, 'the plan binds some tensor as ranges').toBeGreaterThan(0);
  for (const r of ranges(plan)) {
    expect(r.bytes).toBeLessThanOrEqual(bytes);
    expect(r.view!.offset % CHUNK_ALIGN).toBe(0);
  }
  const split = await checkAgainstReference(gpu, g, feeds, { profile, ...tol });
  const whole = await runOnGpu(gpu, g, toF32(feeds), { profile: base });
  for (const k of Object.keys(whole)) expect([...split[k]], k).toEqual([...whole[k]]);
  // The kernel interpreter over the same split memory plan (ranges as views of one buffer) agrees.
  if (!hardware) {
    const cpu = await runOnGpu(gpu, g, toF32(feeds), { profile, backend: new InterpreterBackend() });
    for (const k of Object.keys(whole))
      expectClose({ [k]: cpu[k] }, { [k]: Value.of([whole[k].length], [...whole[k]]) }, 1e-5, 1e-6);
  }
}

describe('tensors over the binding limit, split into ranges', () => {
  const gpu = useGpu();

  it('gather from a split embedding table (rows on both sides of each range boundary)', async () => {
    const b = new Builder();
    const V = 300;
    const D = 8; // 9,600 bytes: three ranges of 4,096
    const table = b.input('table', [V, D]);
    const ids = b.input('ids', [2, 6], 'i32');
    b.output('y', b.gather(table, ids).mul(2));
    const r = rng(3);
    const feeds = {
      inputs: {
        table: draw(r, [V, D]),
        ids: Value.of([2, 6], [0, 127, 128, 255, 256, 299, 1, 129, 130, 257, 64, 200], 'i32'),
      },
    };
    await splitEqualsUnsplit(gpu(), b.g, feeds, 4096);
  });

  it('a tied LM head h @ wte^T with cross-entropy over split vocabulary rows, and its gradients (a scatter into the split table)', async () => {
    const b = new Builder();
    const [V, D, T] = [520, 6, 5]; // wte 12,480 bytes and logits 10,400: 2 ranges of 6,400 each, rows crossing the boundary
    const wte = b.input('wte', [V, D]);
    const tokens = b.input('tokens', [T], 'i32');
    const h = b.gather(wte, tokens).tanh();
    const logits = h.matmul(wte, { transB: true });
    b.output('loss', crossEntropy(b, logits, b.input('labels', [T], 'i32')));
    b.output('probs', softmax(b, logits));
    // wte is a param here so autodiff gives its gradient: the head's X^T dY plus the gather's scatter.
    const g = b.g;
    const param = g.nodes.find((n) => n.op === 'input' && n.attrs.name === 'wte')!;
    Object.assign(param, { op: 'param', attrs: { ...param.attrs, info: { trainable: true, noDecay: false } } });
    const joint = autodiff(g, { loss: 'loss' }).graph;
    expect(joint.outputs.has(gradName('wte'))).toBe(true);
    const r = rng(4);
    const feeds = {
      params: { wte: draw(r, [V, D]) },
      inputs: {
        tokens: Value.of([T], [0, 259, 260, 519, 130], 'i32'),
        labels: Value.of([T], [1, 258, 519, 0, 261], 'i32'),
      },
    };
    await splitEqualsUnsplit(gpu(), joint, feeds, 6400, { rtol: 2e-5, atol: 1e-6 });
  });

  it('a row kernel (softmax) over rows wider than a range, reading and writing split tensors', async () => {
    const b = new Builder();
    // Rows of 2,800 bytes under a 2,048-byte limit: every row crosses a range boundary.
    b.output('y', softmax(b, b.input('x', [2, 700]).mul(3)));
    await splitEqualsUnsplit(gpu(), b.g, { inputs: { x: draw(rng(5), [2, 700]) } }, 2048, { rtol: 1e-5, atol: 1e-7 });
  });

  it('random shapes and limits: matmuls (transposed or not, batched), gathers and reductions split equal unsplit', async () => {
    const r = rng(Number(process.env.PEFTGRAPH_FUZZ_SEED ?? 29));
    for (let t = 0; t < 4; t++) {
      const M = 1 + Math.floor(r() * 40);
      const K = 1 + Math.floor(r() * 24);
      const N = 64 + Math.floor(r() * 400);
      const P = 1 + Math.floor(r() * 2);
      const transB = r() < 0.5;
      const b = new Builder();
      const x = b.input('x', [P, M, K]);
      const w = b.input('w', transB ? [P, N, K] : [P, K, N]);
      const y = x.matmul(w, { transB }).relu();
      b.output('y', y);
      b.output('s', y.sum([2], true).add(b.gather(b.input('t', [N, 3]), b.input('i', [P, M], 'i32')).sum([2], true)));
      const biggest = Math.max(P * M * N, P * K * N) * 4;
      // 2 to 4 ranges for the largest tensor, each a whole number of 256-byte blocks.
      const bytes = Math.max(CHUNK_ALIGN, Math.ceil(biggest / (2 + Math.floor(r() * 3)) / CHUNK_ALIGN) * CHUNK_ALIGN);
      const feeds = {
        inputs: {
          x: draw(r, [P, M, K]),
          w: draw(r, w.shape),
          t: draw(r, [N, 3]),
          i: draw(r, [P, M], { int: N }, 'i32'),
        },
      };
      await splitEqualsUnsplit(gpu(), b.g, feeds, bytes, { rtol: 1e-4, atol: 1e-4 }, t % 2 === 1);
    }
  });

  it('planned for a GPU (tiled matmuls, workgroup reductions, vec4 loads): a long reduction and a tiled matmul over split tensors', async () => {
    const b = new Builder();
    const x = b.input('x', [3, 9000]); // 108,000 bytes: a workgroup per output over a split row
    b.output('s', x.mul(x).sum([1], true));
    const w = b.input('w', [96, 300]);
    b.output('y', b.input('h', [40, 96]).matmul(w).add(1));
    const r = rng(12);
    await splitEqualsUnsplit(
      gpu(),
      b.g,
      { inputs: { x: draw(r, [3, 9000]), w: draw(r, [96, 300]), h: draw(r, [40, 96]) } },
      49152,
      { rtol: 1e-4, atol: 1e-4 },
      true,
    );
  });

  it('full finetuning of a decoder LM whose embedding is over the limit: training (packed AdamW over split packs) equals the unsplit run', async () => {
    const spec = vl
      .model({ text: vl.decoder({ vocab: 700, maxLen: 6, width: 8, depth: 1, heads: 2 }), head: vl.lm() })
      .insert(peft.full()).spec;
    const r = rng(8);
    const examples = Array.from({ length: 8 }, () => ({
      tokens: Int32Array.from({ length: 6 }, () => Math.floor(r() * 700)),
      mask: Float32Array.from([1, 1, 1, 1, 1, 0]),
    }));
    const cfg = trainConfig({ epochs: 2, batch: 2, lr: 1e-2, seed: 3, evalEvery: 2 });
    const run = (g: Gpu) => train(g, spec, { train: { examples } }, cfg);
    // Under a 16 KiB limit: the 22,400-byte embedding, its gradient and its AdamW pack and state
    // take 2 ranges each, the logits [2, 6, 700] 3.
    const split = await run(limited(gpu(), 16384));
    const whole = await run(gpu());
    expect(split.history.map((h) => h.loss)).toEqual(whole.history.map((h) => h.loss));
    // Without a dev set the returned weights are the last ones.
    expect([...split.bestWeights['text.embed.tok']]).toEqual([...whole.bestWeights['text.embed.tok']]);
  });

  it('refuses an op that cannot bind its ranges, naming the tensors and their range counts', () => {
    const b = new Builder();
    b.output('y', b.input('a', [64, 64]).matmul(b.input('w', [64, 64])));
    const profile = { ...PORTABLE_PROFILE, maxStorageBufferBindingSize: 1024 };
    expect(() => compilePlan(b.g, profile)).toThrow(
      /matmul %2 needs 48 storage bindings, over the device's 8: input 'a' \[64, 64\] \(16\), input 'w' \[64, 64\] \(16\), %2 \[64, 64\] \(16\)/,
    );
  });
});
