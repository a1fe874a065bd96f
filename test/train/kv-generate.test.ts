/**
 * KV-cached greedy generation equals recomputing the whole sequence, token for token: on
 * WebGPU (lavapipe) and on the kernel interpreter backend, for a ViT + GPT-2-style decoder with
 * routed LoRA (the routed visual feature enters every step), over a batch whose sequences stop
 * at different lengths (end-of-sequence, or the tower's maxLen).
 */
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/compile.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { PORTABLE_PROFILE } from '../../src/compiler/plan.ts';
import { peft, vl } from '../../src/dsl/index.ts';
import type { Dataset } from '../../src/runtime/batches.ts';
import { Executor } from '../../src/runtime/executor.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { InterpreterBackend } from '../../src/runtime/interpreter-backend.ts';
import { profileOf } from '../../src/runtime/profile.ts';
import { greedyIds } from '../../src/train/caption-eval.ts';
import { KvDecoder } from '../../src/train/kv-generate.ts';
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

function images(seed: number): Dataset {
  const r = rng(seed);
  return {
    examples: Array.from({ length: B }, () => ({
      image: Float32Array.from({ length: 64 }, () => r() * 2 - 1),
      tokens: new Int32Array(L),
      mask: new Float32Array(L),
    })),
  };
}

async function both(make: () => Promise<{ recompute: Executor; kv: KvDecoder }>, seed: number) {
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
