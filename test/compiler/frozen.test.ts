/**
 * Frozen-subgraph caching against the Float64 reference: the split graphs give the unsplit
 * graph's losses and gradients exactly, per-example blocks assembled in another order are that
 * order's features, and what must not be cached (trainable, random, batch-mixing) is not.
 */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { autodiff } from '../../src/compiler/autodiff.ts';
import type { Graph } from '../../src/compiler/ir/graph.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate, type Feeds } from '../../src/compiler/reference.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { residentStep, splitFrozen, type FrozenSplit } from '../../src/compiler/passes/frozen.ts';
import { peft, vl } from '../../src/dsl/index.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { draw, rng } from '../helpers/random.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

const B = 4;

function feedsFor(g: Graph, seed: number): Feeds {
  const r = rng(seed);
  const inputs: Record<string, Value> = {};
  for (const [k, n] of g.inputs()) {
    if (k === 'seed') inputs[k] = Value.of([], [1234], 'u32');
    else if (k === 'mask')
      inputs[k] = Value.of(
        n.shape,
        n.shape.length ? Array.from({ length: n.shape.reduce((a, b) => a * b, 1) }, () => 1) : [1],
      );
    else inputs[k] = draw(r, n.shape, n.dtype === 'i32' ? { int: 8 } : 'real', n.dtype);
  }
  const params = Object.fromEntries(
    Object.entries(initialWeights(g, 7)).map(([k, v]) => [k, Value.of(g.leaf('param', k)!.shape, [...v])]),
  );
  return { inputs, params };
}

/** Rows `order` of a batch-major value, as a new batch. */
function rows(v: Value, order: number[]): Value {
  const per = v.data.length / B;
  const data = new Float64Array(v.data.length);
  order.forEach((src, dst) => data.set(v.data.subarray(src * per, (src + 1) * per), dst * per));
  return new Value(v.shape, data, v.dtype);
}

/** Features of a permuted batch are the permuted rows of the batch's features, for every cached tensor. */
function expectBatchMajor(split: FrozenSplit, feeds: Feeds): void {
  const order = [2, 0, 3, 1];
  const once = evaluate(split.features, feeds);
  const permuted = {
    params: feeds.params,
    inputs: Object.fromEntries(
      Object.entries(feeds.inputs!).map(([k, v]) => [k, v.shape.length && v.shape[0] === B ? rows(v, order) : v]),
    ),
  };
  const again = evaluate(split.features, permuted);
  for (const t of split.tensors) expect([...rows(once[t.name], order).data], t.name).toEqual([...again[t.name].data]);
}

const routed = () =>
  tinyVl()
    .freeze('**')
    .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2, routing: 'inner' }))
    .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 2, bottleneck: 4, kron: 2, rank: 1 }));

describe('frozen-subgraph caching', () => {
  it('the resident step (tables + row ids, gathered) gives the streamed step exactly, for any order of examples', () => {
    const N = 12;
    const { graph } = lowerModel(routed().spec, { batch: B, mode: 'train' });
    const split = splitFrozen(graph, B)!;
    const resident = residentStep(split, B, N);
    // Each of N examples' blocks, from N / B feature batches.
    const blocks = split.tensors.map(() => [] as Float64Array[]);
    const feeds = [0, 1, 2].map((k) => feedsFor(graph, 20 + k));
    for (const f of feeds) {
      const out = evaluate(split.features, f);
      split.tensors.forEach((t, j) => {
        for (let b = 0; b < B; b++) blocks[j].push(out[t.name].data.slice(b * t.perExample, (b + 1) * t.perExample));
      });
    }
    const order = [7, 2, 11, 4]; // a batch of examples from different feature batches
    const f0 = feeds[0];
    const streamedInputs = { ...f0.inputs! };
    const residentInputs = { ...f0.inputs! };
    split.tensors.forEach((t, j) => {
      const m = t.shape[0] / B;
      const batch = new Float64Array(B * t.perExample);
      order.forEach((ex, b) => batch.set(blocks[j][ex], b * t.perExample));
      streamedInputs[t.name] = new Value(t.shape, batch, t.dtype);
      const table = new Float64Array(N * t.perExample);
      blocks[j].forEach((blk, ex) => table.set(blk, ex * t.perExample));
      residentInputs[`table:${t.name}`] = new Value([N * m, ...t.shape.slice(1)], table, t.dtype);
      residentInputs[`frozen:rows:${m}`] = Value.of(
        [B * m],
        order.flatMap((ex) => Array.from({ length: m }, (_, r) => ex * m + r)),
        'i32',
      );
    });
    const want = evaluate(autodiff(split.step, { loss: 'loss' }).graph, { params: f0.params, inputs: streamedInputs });
    const got = evaluate(autodiff(resident, { loss: 'loss' }).graph, { params: f0.params, inputs: residentInputs });
    for (const [k, v] of Object.entries(want)) expect([...got[k].data], k).toEqual([...v.data]);
  });

  it('the split gives the losses and gradients of the whole graph exactly (reference interpreter)', () => {
    const { graph } = lowerModel(routed().spec, { batch: B, mode: 'train' });
    const split = splitFrozen(graph, B)!;
    expect(split.tensors.length).toBeGreaterThan(0);
    expect(split.tensors.some((t) => t.scope === 'vision')).toBe(true);
    expect(split.step.inputs().has('image')).toBe(false);
    expect([...split.features.inputs().keys()].every((k) => graph.inputs().get(k)!.shape[0] === B)).toBe(true);
    const feeds = feedsFor(graph, 3);
    const want = evaluate(autodiff(graph, { loss: 'loss' }).graph, feeds);
    const features = evaluate(split.features, feeds);
    const got = evaluate(autodiff(split.step, { loss: 'loss' }).graph, {
      params: feeds.params,
      inputs: { ...feeds.inputs, ...features },
    });
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const [k, v] of Object.entries(want)) expect([...got[k].data], k).toEqual([...v.data]);
  });

  it('cached tensors are batch-major: per-example blocks assembled in any order are that order', () => {
    const { graph } = lowerModel(routed().spec, { batch: B, mode: 'train' });
    expectBatchMajor(splitFrozen(graph, B)!, feedsFor(graph, 5));
  });

  it('leaves trainable, random and batch-mixing work in the step', () => {
    // LoRA inside the vision tower: only what comes before the first trained layer is cached.
    const visionLora = tinyVl()
      .freeze('**')
      .insert(peft.lora({ at: 'vision.layers.*.attn.{q,v}', rank: 2 }));
    const s1 = splitFrozen(lowerModel(visionLora.spec, { batch: B, mode: 'train' }).graph, B);
    for (const [, p] of s1?.features.params() ?? [])
      expect((p.attrs.info as { trainable: boolean }).trainable).toBe(false);
    // Dropout everywhere: nothing after a draw is cached.
    const dropped = lowerModel(routed().spec, { batch: B, mode: 'train' });
    const withDropout = lowerModel({ ...routed().spec, dropout: 0.1 }, { batch: B, mode: 'train' }).graph;
    const s2 = splitFrozen(withDropout, B);
    expect(s2?.features.nodes.some((n) => n.op === 'random') ?? false).toBe(false);
    expect(s2?.nodesCached ?? 0).toBeLessThan(splitFrozen(dropped.graph, B)!.nodesCached);
    // Ops that mix examples (statistics over the batch axis, the batch axis moved) stay in the
    // step; the frozen projections before them are cached, batch-major.
    const b = new Builder();
    const frozenW = (name: string, k: number) =>
      b.param(name, [k, 5], { trainable: false, init: { kind: 'normal', std: 1 } });
    const x = b.input('x', [B, 8, 64]);
    const h = x.matmul(frozenW('W', 64)); // [B, 8, 5]: cached
    const perBatch = x.matmul(frozenW('P', 64)).sum([0]); // [8, 5]: a sum over examples
    const moved = x.permute([1, 0, 2]).matmul(frozenW('U', 64)); // [8, B, 5]: batch axis moved
    const centred = h
      .sub(h.mean([0], true))
      .add(perBatch)
      .add(moved.permute([1, 0, 2]));
    const y = centred.matmul(b.param('V', [5, 1], { trainable: true, init: { kind: 'normal', std: 1 } }));
    b.output('loss', y.mul(y).mean());
    const s3 = splitFrozen(b.g, B)!;
    expect(s3.tensors.map((t) => t.shape)).toEqual([
      [B, 8, 5],
      [B, 8, 5],
    ]);
    expect(s3.step.nodes.some((n) => n.op === 'sum' && (n.attrs.axes as number[]).includes(0))).toBe(true);
    const feeds = feedsFor(b.g, 9);
    expectBatchMajor(s3, feeds);
    const want = evaluate(autodiff(b.g, { loss: 'loss' }).graph, feeds);
    const got = evaluate(autodiff(s3.step, { loss: 'loss' }).graph, {
      params: feeds.params,
      inputs: { ...feeds.inputs, ...evaluate(s3.features, feeds) },
    });
    for (const [k, v] of Object.entries(want)) expect([...got[k].data], k).toEqual([...v.data]);
  });

  it('caches only what the step reads: a decoder LM leaves its unused pooled feature out (regression)', () => {
    // The LM's pooled feature is dead code; its token count was once cached though no step read it,
    // so the resident step had no input for its table and train() stopped before the first step.
    const spec = vl
      .model({ text: vl.decoder({ vocab: 20, maxLen: 6, width: 8, depth: 1, heads: 2 }), head: vl.lm() })
      .freeze('**')
      .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2 })).spec;
    const split = splitFrozen(lowerModel(spec, { batch: B, mode: 'train' }).graph, B)!;
    expect(split.tensors.length).toBeGreaterThan(0);
    const read = residentStep(split, B, 8).inputs();
    for (const t of split.tensors) expect(read.has(`table:${t.name}`), t.name).toBe(true);
  });

  it('finds nothing to cache when everything trains', () => {
    expect(splitFrozen(lowerModel(tinyVl().spec, { batch: B, mode: 'train' }).graph, B)).toBeNull();
  });
});
