/** Training from cached frozen features on WebGPU: the same run as recomputing them every step. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peft } from '../../src/dsl/index.ts';
import { train, trainConfig } from '../../src/train/trainer.ts';
import type { CacheReport } from '../../src/train/feature-cache.ts';
import { readStepLog, STEP_LOG } from '../../src/train/step-log.ts';
import { quadrants } from '../../examples/quadrants.ts';
import { useGpu } from '../helpers/gpu.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

const spec = tinyVl()
  .freeze('**')
  .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2, routing: 'inner' }))
  .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 2, bottleneck: 4, kron: 2, rank: 1 }))
  .regularize().spec;
const data = { train: quadrants(48, 1), dev: quadrants(16, 2) };

describe('cached frozen features', () => {
  const gpu = useGpu();

  it('train the same steps as recomputing the frozen tower, kept on the device or streamed: every loss, grad norm and weight equal', async () => {
    const runs = [];
    for (const [cacheFrozen, cacheOnDevice] of [
      [true, true],
      [true, false],
      [false, true],
    ]) {
      const dir = mkdtempSync(join(tmpdir(), 'pg-cache-'));
      const reports: (CacheReport | { skipped: string })[] = [];
      const r = await train(
        gpu(),
        spec,
        data,
        trainConfig({ epochs: 3, batch: 8, seed: 3, evalEvery: 3, outDir: dir, cacheFrozen, cacheOnDevice }),
        { onCache: (c) => reports.push(c) },
      );
      runs.push({ r, reports, log: readStepLog(join(dir, STEP_LOG)) });
    }
    const [resident, streamed, recomputed] = runs;
    expect(recomputed.reports).toEqual([]);
    const rep = resident.reports[0] as CacheReport;
    expect(rep.tensors).toBeGreaterThan(0);
    expect(rep.examples).toBe(48);
    expect(rep.nodesCached).toBeGreaterThan(0);
    expect(rep.resident).toBe(true);
    expect((streamed.reports[0] as CacheReport).resident).toBe(false);
    for (const cached of [resident, streamed]) {
      expect(cached.log.length).toBe(18);
      expect(cached.log.map((s) => [s.losses, s.gradNorm])).toEqual(recomputed.log.map((s) => [s.losses, s.gradNorm]));
      expect(cached.r.history.map((h) => h.dev)).toEqual(recomputed.r.history.map((h) => h.dev));
      for (const [k, v] of Object.entries(recomputed.r.bestWeights))
        expect([...cached.r.bestWeights[k]], k).toEqual([...v]);
    }
  });

  it("serve the trainer's repeated dev evaluations: computed once per dataset, results equal", async () => {
    const { Evaluator } = await import('../../src/train/trainer.ts');
    const { lowerModel } = await import('../../src/compiler/lower/index.ts');
    const { initialWeights } = await import('../../src/runtime/init.ts');
    const weights = initialWeights(lowerModel(spec, { batch: 8, mode: 'infer' }).graph, 5);
    const cached = await Evaluator.create(gpu(), spec, 8, undefined, true, data.dev.examples.length);
    const plain = await Evaluator.create(gpu(), spec, 8);
    try {
      for (const ev of [cached, plain]) ev.setWeights(weights);
      const want = await plain.evaluate(data.dev);
      expect(await cached.evaluate(data.dev)).toEqual(want);
      expect(await cached.evaluate(data.dev)).toEqual(want);
      expect(cached.cacheFills).toBe(1);
      // New trainable weights (a later epoch) reuse the features; a new frozen array recomputes them.
      const head = Object.keys(weights).find((k) => k.startsWith('head'))!;
      const moved = { ...weights, [head]: weights[head].map((v) => v * 0.5) };
      for (const ev of [cached, plain]) ev.setWeights(moved);
      expect(await cached.evaluate(data.dev)).toEqual(await plain.evaluate(data.dev));
      expect(cached.cacheFills).toBe(1);
      const vision = Object.keys(weights).find((k) => k.startsWith('vision'))!;
      const frozenMoved = { ...moved, [vision]: weights[vision].map((v) => v * 0.5) };
      for (const ev of [cached, plain]) ev.setWeights(frozenMoved);
      expect(await cached.evaluate(data.dev)).toEqual(await plain.evaluate(data.dev));
      expect(cached.cacheFills).toBe(2);
    } finally {
      cached.destroy();
      plain.destroy();
    }
  });

  it('are skipped, saying why, when they would not fit the host memory budget', async () => {
    const { planFeatureCache } = await import('../../src/train/feature-plan.ts');
    const { lowerModel } = await import('../../src/compiler/lower/index.ts');
    const { graph } = lowerModel(spec, { batch: 8, mode: 'train' });
    expect(planFeatureCache(graph, 8, 48).split).not.toBeNull();
    const over = planFeatureCache(graph, 8, 48, { maxBytes: 1024 });
    expect(over.split).toBeNull();
    expect(over.why).toMatch(/MiB of host memory \(budget 0\.0 MiB\); the frozen part runs every step/);
  });
});
