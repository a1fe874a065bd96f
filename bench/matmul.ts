/**
 * Matmul GFLOP/s per kernel family and for the autotuned choice, on the current adapter.
 *   npx tsx bench/matmul.ts
 * Every variant of a family is timed; the family's row shows its best. All in one run.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Builder } from '../src/compiler/builder.ts';
import type { MatmulVariant } from '../src/compiler/codegen/kernels.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { autotune, CANDIDATES, shapeClass, timeVariant } from '../src/train/autotune.ts';
import { profileOf } from '../src/runtime/profile.ts';

const gpu = await acquireDevice();
const profile = profileOf(gpu);
console.log(`adapter: ${gpu.info.description} (software: ${gpu.info.isSoftware})`);
const shapes: [number, number, number][] = [
  [256, 256, 256],
  [512, 512, 512],
  [1024, 1024, 1024],
  [4096, 128, 512],
];
const cacheDir = mkdtempSync(join(tmpdir(), 'pg-autotune-'));
const rows: string[] = ['| M x K x N | family | best variant | ms | GFLOP/s |', '| --- | --- | --- | --- | --- |'];
for (const [M, K, N] of shapes) {
  const b = new Builder();
  b.output('y', b.input('a', [M, K]).matmul(b.input('b', [K, N])));
  const node = b.g.nodes.find((n) => n.op === 'matmul')!;
  const c = { ...shapeClass(node, b.g), M, K, N, batch: 1 };
  const gflops = (ms: number) => ((2 * M * N * K) / ms / 1e6).toFixed(2);
  const best = new Map<string, { v: MatmulVariant; ms: number }>();
  for (const v of CANDIDATES) {
    const ms = await timeVariant(gpu, profile, c, v);
    const cur = best.get(v.family);
    if (!cur || ms < cur.ms) best.set(v.family, { v, ms });
  }
  for (const [family, { v, ms }] of best)
    rows.push(`| ${M}x${K}x${N} | ${family} | \`${JSON.stringify(v)}\` | ${ms.toFixed(1)} | ${gflops(ms)} |`);
  const tuned = await autotune(gpu, profile, b.g, { path: join(cacheDir, 'autotune.json') });
  const v = tuned.choice.get(node.id)!;
  const ms = await timeVariant(gpu, profile, c, v);
  rows.push(`| ${M}x${K}x${N} | **autotuned** | \`${JSON.stringify(v)}\` | ${ms.toFixed(1)} | **${gflops(ms)}** |`);
  console.log(rows.slice(-best.size - 1).join('\n'));
}
console.log(`\n${rows.join('\n')}`);
gpu.destroy();
