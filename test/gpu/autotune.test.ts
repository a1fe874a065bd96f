import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Builder } from '../../src/compiler/builder.ts';
import type { MatmulVariant } from '../../src/compiler/codegen/kernels.ts';
import { autotune } from '../../src/train/autotune.ts';
import { profileOf } from '../../src/runtime/profile.ts';
import { useGpu } from '../helpers/gpu.ts';
import { checkAgainstReference } from '../helpers/run-plan.ts';
import { draw, rng } from '../helpers/random.ts';

describe('matmul autotuner', () => {
  const gpu = useGpu();
  const candidates: MatmulVariant[] = [{ family: 'reg', tm: 4, tn: 4, wgx: 8, wgy: 8 }, { family: 'tiled' }, { family: 'reg4', tm: 4, tn4: 1, wgx: 8, wgy: 8 }];

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
});
