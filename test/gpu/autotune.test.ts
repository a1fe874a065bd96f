import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Builder } from '../../src/compiler/builder.ts';
import type { MatmulVariant } from '../../src/compiler/codegen/kernels.ts';
import { autotune, shapeClass, tunedPlanOptions } from '../../src/train/autotune.ts';
import { writeFileSync } from 'node:fs';
import { compileStep } from '../../src/train/train-step.ts';
import { profileOf } from '../../src/runtime/profile.ts';
import { useGpu } from '../helpers/gpu.ts';
import { checkAgainstReference } from '../helpers/run-plan.ts';
import { draw, rng } from '../helpers/random.ts';

describe('matmul autotuner', () => {
  const gpu = useGpu();
  const candidates: MatmulVariant[] = [
    { family: 'reg', tm: 4, tn: 4, wgx: 8, wgy: 8 },
    { family: 'tiled' },
    { family: 'reg4', tm: 4, tn4: 1, wgx: 8, wgy: 8 },
  ];

  it('chooses a kernel per shape class, caches it on disk, and the choice runs correctly', async () => {
    const b = new Builder();
    const x = b.input('x', [48, 40]);
    const h = x.matmul(b.input('w1', [40, 64])).gelu();
    b.output('y', h.matmul(b.input('w2', [64, 24]), {}).add(h.matmul(b.input('w3', [64, 24]))));
    const path = join(mkdtempSync(join(tmpdir(), 'pg-at-')), 'autotune.json');
    const first = await autotune(gpu(), profileOf(gpu()), b.g, { candidates, path });
    expect(first.tuned).toBe(2); // two shape classes: 48x40x64 and 48x64x24 (shared by w2 and w3)
    expect(first.cached).toBe(1);
    const file = JSON.parse(readFileSync(path, 'utf8'));
    const entries = Object.values(file)[0] as Record<string, unknown>;
    expect(Object.keys(entries).sort()).toEqual(['64x64x32b1', '64x64x64b1']); // classes round up to powers of two
    const again = await autotune(gpu(), profileOf(gpu()), b.g, { candidates, path });
    expect(again.tuned).toBe(0);
    expect(again.cached).toBe(3);
    const r = rng(9);
    const inputs = Object.fromEntries([...b.g.inputs()].map(([k, n]) => [k, draw(r, n.shape)]));
    await checkAgainstReference(gpu(), b.g, { inputs }, { matmulVariant: (n) => again.choice.get(n.id), rtol: 1e-4 });
  });

  it("train and compile plan with the cache's choice per shape class ('cache'), time missing classes ('run'), or ignore it ('off')", async () => {
    const b = new Builder();
    const w = (name: string, shape: number[]) => b.param(name, shape, { trainable: true, init: { kind: 'zeros' } });
    const x = b.input('x', [8, 12]);
    const h = x.matmul(w('w1', [12, 16])).relu();
    const y = h.matmul(w('w2', [16, 4]));
    b.output('loss', y.mul(y).sum([0, 1]));
    const fwd = b.g;
    const profile = profileOf(gpu());
    const step = {
      optimizer: { kind: 'sgd' as const, momentum: 0, weightDecay: 0, clip: 0 },
      lr: 0.1,
      schedule: { kind: 'constant' as const },
      totalSteps: 1,
    };
    const dir = mkdtempSync(join(tmpdir(), 'pg-at-'));
    const old = process.env.PEFTGRAPH_CACHE_DIR;
    process.env.PEFTGRAPH_CACHE_DIR = dir;
    try {
      const shapes = () => fwd;
      // Nothing cached: the profile's defaults.
      expect((await tunedPlanOptions(gpu(), profile, 'cache', { shapes })).classes).toBe(0);
      // A cache that says 'tiled' for the first layer's class reaches that layer's kernel only.
      const mm = fwd.nodes.find((n) => n.op === 'matmul')!;
      const key = shapeClass(mm, fwd).key;
      const info = gpu().info;
      writeFileSync(
        join(dir, 'autotune.json'),
        JSON.stringify({
          [`${info.vendor}|${info.device}|${info.description}`]: { [key]: { variant: { family: 'tiled' }, ms: 1 } },
        }),
      );
      const cached = await tunedPlanOptions(gpu(), profile, 'cache', { shapes });
      expect(cached.classes).toBe(1);
      const plan = compileStep(fwd, profile, { ...step, plan: cached.plan }).plan;
      const families = plan.kernels.filter((k) => k.kind === 'matmul').map((k) => k.variant?.family);
      expect(families).toContain('tiled');
      expect(families.filter((f) => f === 'tiled').length).toBeLessThan(families.length);
      const off = await tunedPlanOptions(gpu(), profile, 'off', { shapes });
      expect(
        compileStep(fwd, profile, { ...step, plan: off.plan }).plan.kernels.some((k) => k.variant?.family === 'tiled'),
      ).toBe(false);
      // 'run' times the classes the cache lacks, then every matmul of the graph has a cached choice.
      const run = await tunedPlanOptions(gpu(), profile, 'run', { shapes });
      expect(run.tuned).toBeGreaterThan(0);
      expect(run.classes).toBe(run.tuned + 1);
      for (const n of fwd.nodes.filter((m) => m.op === 'matmul'))
        expect(run.plan.matmulVariant!(n, fwd), `node %${n.id}`).toBeDefined();
    } finally {
      if (old === undefined) delete process.env.PEFTGRAPH_CACHE_DIR;
      else process.env.PEFTGRAPH_CACHE_DIR = old;
    }
  });
});
