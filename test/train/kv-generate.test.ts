/**
 * KV-cached generation equals recomputing the whole sequence, token for token: on
 * WebGPU (lavapipe) and on the kernel interpreter backend, for a ViT + GPT-2-style decoder with
 * routed LoRA (the routed visual feature enters every step), over a batch whose sequences stop
 * at different lengths (end-of-sequence, or the tower's maxLen).
 */
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/compile.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { PORTABLE_PROFILE } from '../../src/compiler/plan.ts';
import { peft, vl } from '../../src/dsl/index.ts';
import type { Dataset } from '../../src/runtime/batches.ts';
import { Executor } from '../../src/runtime/executor.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { InterpreterBackend } from '../../src/runtime/interpreter-backend.ts';
import { profileOf } from '../../src/runtime/profile.ts';
import { greedyIds } from '../../src/train/caption-eval.ts';
import { greedyDecode } from '../../src/train/generate.ts';
import { makeBatch } from '../../src/runtime/batches.ts';
import { type CachedDecoder, KvDecoder } from '../../src/train/kv-generate.ts';
import { useGpu } from '../helpers/gpu.ts';
import { rng } from '../helpers/random.ts';

const [B, L, V] = [3, 6, 11];
const spec = vl
  .model({
    vision: vl.vit({ image: [8, 8], patch: 4, width: 16, depth: 1, heads: 2 }),
    text: vl.decoder({ vocab: V, maxLen: L, width: 16, depth: 2, heads: 2 }),
    visualPrefix: 'pooled',
    head: vl.lm(),
  })
  .freeze('**')
  .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2, routing: 'inner' })).spec;
const settings = { eos: 2, pad: 0 };

/** Weights drawn larger than their init, so greedy decoding wanders and sequences end apart. */
function weights(seed: number): Record<string, Float32Array> {
  const r = rng(seed);
  const g = lowerModel(spec, { batch: B, mode: 'infer' }).graph;
  return Object.fromEntries(
    Object.entries(initialWeights(g, seed)).map(([k, v]) => [
      k,
      Float32Array.from(v, (x) => x * 3 + 0.3 * (r() - 0.5)),
    ]),
  );
}

function images(seed: number, n = B): Dataset {
  const r = rng(seed);
  return {
    examples: Array.from({ length: n }, () => ({
      image: Float32Array.from({ length: 64 }, () => r() * 2 - 1),
      tokens: new Int32Array(L),
      mask: new Float32Array(L),
    })),
  };
}

/** log softmax of a row of logits, in float64. */
function logProbs(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
  return row.map((x) => x - lse);
}

/**
 * A beam search written here from the rules (not the runtime's): `next(ids)` gives the
 * log-probabilities of the token after `ids`, each computed by running the whole model; the
 * best 2W candidates in order, an end-of-sequence among the first W ends a hypothesis (its
 * length counting it), the rest continue; done at `maxTokens` or when W hypotheses beat every
 * live beam.
 */
async function referenceBeam(
  next: (ids: number[]) => Promise<number[]>,
  o: { width: number; lengthPenalty: number; eos: number; maxTokens: number },
): Promise<{ ids: number[]; score: number }> {
  const W = o.width;
  const norm = (score: number, len: number) => score / Math.max(1, len) ** o.lengthPenalty;
  let live = [{ ids: [] as number[], score: 0 }];
  const done: { ids: number[]; score: number }[] = [];
  for (;;) {
    const cands: { ids: number[]; score: number; token: number }[] = [];
    for (const beam of live)
      (await next(beam.ids)).forEach((l, token) => cands.push({ ids: beam.ids, score: beam.score + l, token }));
    cands.sort((a, b) => b.score - a.score);
    const kept: { ids: number[]; score: number }[] = [];
    for (const [rank, c] of cands.slice(0, 2 * W).entries()) {
      if (c.token === o.eos) {
        if (rank < W) done.push({ ids: c.ids, score: norm(c.score, c.ids.length + 1) }); // the end-of-sequence counts
      } else if (kept.length < W) kept.push({ ids: [...c.ids, c.token], score: c.score });
      if (kept.length === W) break;
    }
    const fullText = kept[0].ids.length >= o.maxTokens;
    if (fullText) for (const k of kept) done.push({ ids: k.ids, score: norm(k.score, k.ids.length) });
    done.sort((a, b) => b.score - a.score);
    const best = Math.max(...kept.map((k) => norm(k.score, k.ids.length)));
    if (fullText || (done.length >= W && done[W - 1].score >= best)) return done[0];
    live = kept;
  }
}

async function both(make: () => Promise<{ recompute: Executor; kv: CachedDecoder }>, seed: number) {
  const { recompute, kv } = await make();
  try {
    const w = weights(seed);
    for (const name of Object.keys(recompute.plan.params)) recompute.setParam(name, w[name]);
    kv.setWeights(w);
    const data = images(seed + 1);
    const want = await greedyIds(recompute, spec, data, B, settings);
    const batch = {
      image: Float32Array.from(data.examples.flatMap((e) => [...(e.image as Float32Array)])),
      tokens: new Int32Array(B * L),
      mask: new Float32Array(B * L),
    };
    return { want, got: await kv.greedy(batch, settings) };
  } finally {
    recompute.destroy();
    kv.destroy();
  }
}

describe('KV-cached greedy generation', () => {
  const beamLengths = new Set<number>();
  const gpu = useGpu();
  const recomputePlan = (profile = profileOf(gpu())) =>
    compile(lowerModel(spec, { batch: B, mode: 'infer', loss: false }).graph, {
      batch: B,
      mode: 'infer',
      loss: false,
      profile,
    }).plan;

  it('on WebGPU: the same tokens as recomputing everything, sequences of several lengths', async () => {
    const lengths = new Set<number>();
    for (const seed of [3, 7, 11]) {
      const { want, got } = await both(
        async () => ({
          recompute: await Executor.create(gpu(), recomputePlan()),
          kv: await KvDecoder.create(gpu(), spec, B),
        }),
        seed,
      );
      expect(got).toEqual(want);
      for (const s of want) lengths.add(s.length);
    }
    // The comparison covered early stops and full-length sequences, not only one shape.
    expect(lengths.size).toBeGreaterThan(1);
  });

  it('on the kernel interpreter backend: the same tokens too', async () => {
    const backend = new InterpreterBackend();
    const { want, got } = await both(
      async () => ({
        recompute: await Executor.on(backend, recomputePlan(PORTABLE_PROFILE)),
        kv: await KvDecoder.create(null, spec, B, { backend, profile: PORTABLE_PROFILE }),
      }),
      5,
    );
    expect(got).toEqual(want);
  });

  it.each([13, 3, 7])(
    'beam search: the hypotheses and scores of a beam search written here over the recomputing decoder, on WebGPU and on the interpreter (weights %i)',
    async (seed) => {
      const [W, count] = [3, 2];
      const lp = 0.8;
      const w = weights(seed);
      const data = images(seed + 4, count);
      // The reference: the same beam rules, each hypothesis scored by running the whole model on it (batch 1).
      const full = await Executor.create(
        gpu(),
        compile(lowerModel(spec, { batch: 1, mode: 'infer', loss: false }).graph, {
          batch: 1,
          mode: 'infer',
          loss: false,
          profile: profileOf(gpu()),
        }).plan,
      );
      const want: { ids: number[]; score: number }[] = [];
      try {
        for (const name of Object.keys(full.plan.params)) full.setParam(name, w[name]);
        for (const ex of data.examples) {
          const next = async (ids: number[]) => {
            const tokens = new Int32Array(L);
            tokens.set(ids);
            const z = (
              await full.run(
                { image: ex.image, tokens, mask: Float32Array.from({ length: L }, (_, j) => (j < ids.length ? 1 : 0)) },
                ['logits'],
              )
            ).logits;
            // Prefix 1: position ids.length predicts the next token.
            return logProbs(Array.from(z).slice(ids.length * V, (ids.length + 1) * V));
          };
          want.push(await referenceBeam(next, { width: W, lengthPenalty: lp, eos: settings.eos, maxTokens: L }));
        }
      } finally {
        full.destroy();
      }
      // Each image's inputs repeated W times, its beams on consecutive rows.
      const repeated = data.examples.flatMap((ex) => Array.from({ length: W }, () => ex));
      const inputs = {
        image: Float32Array.from(repeated.flatMap((e) => [...(e.image as Float32Array)])),
        tokens: new Int32Array(W * count * L),
        mask: new Float32Array(W * count * L),
      };
      const backend = new InterpreterBackend();
      for (const make of [
        () => KvDecoder.create(gpu(), spec, W * count),
        () => KvDecoder.create(null, spec, W * count, { backend, profile: PORTABLE_PROFILE }),
      ]) {
        const kv = await make();
        try {
          kv.setWeights(w);
          const got = await kv.beam(inputs, { ...settings, width: W, lengthPenalty: lp });
          expect(got.map((g) => g.ids)).toEqual(want.map((g) => g.ids));
          got.forEach((g, i) => expect(g.score).toBeCloseTo(want[i].score, 4));
        } finally {
          kv.destroy();
        }
      }
      expect(want.every((h) => Number.isFinite(h.score))).toBe(true);
      for (const h of want) beamLengths.add(h.ids.length);
    },
  );

  it('the beam comparisons covered hypotheses ended by end-of-sequence and by maxLen', () => {
    expect([...beamLengths].some((n) => n < L)).toBe(true);
    expect(beamLengths.has(L)).toBe(true);
  });

  it('refuses a spec that is not a decoder LM', async () => {
    const classifier = vl.model({
      text: vl.encoder({ vocab: 5, maxLen: 3, width: 8, depth: 1, heads: 2 }),
      head: vl.classifier({ answers: 2 }),
    }).spec;
    await expect(KvDecoder.create(gpu(), classifier, 1)).rejects.toThrow(
      /KV-cached generation needs a decoder text tower/,
    );
  });
});

describe("KV-cached greedy generation with T5's decoder over a cached encoder output", () => {
  const gpu = useGpu();
  const [Bt, Lt, T, Vt] = [3, 4, 6, 13];
  const t5BeamLengths: number[] = [];
  const t5 = vl
    .model({
      vision: vl.vit({ image: [8, 8], patch: 4, width: 16, depth: 1, heads: 2 }),
      text: vl.encdec({
        vocab: Vt,
        maxLen: Lt,
        targetLen: T,
        width: 16,
        ffn: 32,
        encoderDepth: 1,
        decoderDepth: 2,
        heads: 2,
        buckets: 8,
        maxDistance: 16,
      }),
      visualPrefix: 'pooled',
      head: vl.lm(),
    })
    .freeze('**')
    .insert(peft.lora({ at: 'decoder.layers.*.attn.{q,v}', rank: 2 })).spec;

  /** Weights drawn larger than their init, so decoding wanders and sequences end apart. */
  const t5Weights = (seed: number) => {
    const r = rng(seed);
    const g = lowerModel(t5, { batch: 1, mode: 'infer', loss: false }).graph;
    return Object.fromEntries(
      Object.entries(initialWeights(g, seed)).map(([k, v]) => [
        k,
        Float32Array.from(v, (x) => x * 2 + 0.2 * (r() - 0.5)),
      ]),
    );
  };

  it('the same tokens as the decoder that recomputes every position (greedyDecode), on WebGPU and on the interpreter', async () => {
    const g = lowerModel(t5, { batch: Bt, mode: 'infer', loss: false }).graph;
    const w = t5Weights(21);
    const r = rng(22);
    const examples = Array.from({ length: Bt }, (_, i) => ({
      image: Float32Array.from({ length: 64 }, () => r() * 2 - 1),
      tokens: Int32Array.from({ length: Lt }, (_, j) => (j < 3 ? 3 + ((i + j) % 9) : 0)),
      mask: Float32Array.from({ length: Lt }, (_, j) => (j < 3 ? 1 : 0)),
      targetTokens: new Int32Array(T),
      targetMask: Float32Array.from({ length: T }, (_, j) => (j === 0 ? 1 : 0)),
    }));
    const settings = { eos: 1, pad: 0 };
    const full = await Executor.create(
      gpu(),
      compile(g, { batch: Bt, mode: 'infer', loss: false, profile: profileOf(gpu()) }).plan,
    );
    let want: number[][];
    try {
      for (const name of Object.keys(full.plan.params)) full.setParam(name, w[name]);
      const run = async function* (ds: Dataset) {
        const { inputs, valid } = makeBatch(ds, [...ds.examples.keys()], Bt);
        yield {
          logits: (
            await full.run(Object.fromEntries(Object.entries(inputs).filter(([k]) => full.plan.inputs[k])), ['logits'])
          ).logits,
          start: 0,
          valid,
        };
      };
      // Both predict T tokens after the start token (the last fed nowhere), and stop at end-of-sequence.
      // The recomputing decoder attends causally to every position it has written (its target mask all ones).
      const recompute = examples.map((e) => ({ ...e, targetMask: new Float32Array(T).fill(1) }));
      want = (await greedyDecode(run, { examples: recompute }, 0, T, Vt)).map((ids) => {
        const end = ids.indexOf(settings.eos);
        return Array.from(end < 0 ? ids : ids.slice(0, end));
      });
    } finally {
      full.destroy();
    }
    const batch = Object.fromEntries(
      (['image', 'tokens', 'mask', 'targetTokens', 'targetMask'] as const).map((k) => [
        k,
        k === 'tokens' || k === 'targetTokens'
          ? Int32Array.from(examples.flatMap((e) => [...e[k]]))
          : Float32Array.from(examples.flatMap((e) => [...e[k]])),
      ]),
    );
    const backend = new InterpreterBackend();
    for (const make of [
      () => KvDecoder.create(gpu(), t5, Bt),
      () => KvDecoder.create(null, t5, Bt, { backend, profile: PORTABLE_PROFILE }),
    ]) {
      const kv = await make();
      try {
        kv.setWeights(w);
        expect(await kv.greedy(batch, settings)).toEqual(want);
      } finally {
        kv.destroy();
      }
    }
    expect(new Set(want.map((s) => s.length)).size + want.flat().length).toBeGreaterThan(2);
  });

  it.each([4, 9])(
    'beam search: the hypotheses and scores of a beam search over the whole model in the Float64 reference interpreter, on WebGPU and on the kernel interpreter (weights %i)',
    async (seed) => {
      const [W, count, lp] = [3, 2, 1.2];
      const w = t5Weights(seed);
      const r = rng(seed + 1);
      const examples = Array.from({ length: count }, (_, i) => ({
        image: Float32Array.from({ length: 64 }, () => r() * 2 - 1),
        tokens: Int32Array.from({ length: Lt }, (_, j) => (j < 2 + i ? 3 + ((i + j) % 9) : 0)),
        mask: Float32Array.from({ length: Lt }, (_, j) => (j < 2 + i ? 1 : 0)),
      }));
      // The reference: every candidate scored by the Float64 reference interpreter over the whole model (batch 1).
      const g = lowerModel(t5, { batch: 1, mode: 'infer', loss: false }).graph;
      const params = Object.fromEntries([...g.params()].map(([k, n]) => [k, Value.of(n.shape, w[k])]));
      const want: { ids: number[]; score: number }[] = [];
      for (const ex of examples) {
        const next = async (ids: number[]) => {
          // The decoder reads its start id (0) then the ids; position ids.length predicts the next token.
          const targetTokens = new Int32Array(T);
          targetTokens.set(ids, 1);
          const inputs = {
            image: Value.of([1, 1, 8, 8], ex.image),
            tokens: Value.of([1, Lt], ex.tokens, 'i32'),
            mask: Value.of([1, Lt], ex.mask),
            targetTokens: Value.of([1, T], targetTokens, 'i32'),
            targetMask: Value.of([1, T], new Float32Array(T).fill(1)),
          };
          const needed = g.inputs();
          const z = evaluate(
            g,
            { params, inputs: Object.fromEntries(Object.entries(inputs).filter(([k]) => needed.has(k))) },
            ['logits'],
          ).logits.data;
          return logProbs(Array.from(z).slice(ids.length * Vt, (ids.length + 1) * Vt));
        };
        // T positions predict: the start id's and T - 1 generated tokens' (the last token is fed nowhere).
        want.push(await referenceBeam(next, { width: W, lengthPenalty: lp, eos: 1, maxTokens: T }));
      }
      // Each example's inputs repeated W times (its beams on consecutive rows), every decoder starting from id 0.
      const rows = examples.flatMap((ex) => Array.from({ length: W }, () => ex));
      const inputs = {
        image: Float32Array.from(rows.flatMap((e) => [...e.image])),
        tokens: Int32Array.from(rows.flatMap((e) => [...e.tokens])),
        mask: Float32Array.from(rows.flatMap((e) => [...e.mask])),
        targetTokens: new Int32Array(rows.length * T),
        targetMask: Float32Array.from({ length: rows.length * T }, (_, j) => (j % T === 0 ? 1 : 0)),
      };
      const backend = new InterpreterBackend();
      for (const make of [
        () => KvDecoder.create(gpu(), t5, W * count),
        () => KvDecoder.create(null, t5, W * count, { backend, profile: PORTABLE_PROFILE }),
      ]) {
        const kv = await make();
        try {
          kv.setWeights(w);
          const got = await kv.beam(inputs, { eos: 1, pad: 0, width: W, lengthPenalty: lp });
          expect(got.map((h) => h.ids)).toEqual(want.map((h) => h.ids));
          got.forEach((h, i) => expect(h.score).toBeCloseTo(want[i].score, 4));
        } finally {
          kv.destroy();
        }
      }
      expect(want.every((h) => Number.isFinite(h.score))).toBe(true);
      t5BeamLengths.push(...want.map((h) => h.ids.length));
    },
  );

  it('the T5 beam comparisons covered hypotheses ended by end-of-sequence and by the target length', () => {
    expect(t5BeamLengths.some((n) => n < T)).toBe(true);
    expect(t5BeamLengths).toContain(T);
  });
});
