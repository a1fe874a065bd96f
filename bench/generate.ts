/**
 * Greedy decoding speed, side by side in one run: peftgraph's KV-cached decoder
 * (src/train/kv-generate.ts) against recomputing the whole sequence for every token (the decoder
 * evaluation used before it), and against the same GPT-2-style decode in PyTorch CPU with
 * HF-style past_key_values (bench/generate_torch.py: torch.nn, at 2 threads and at 1, the faster
 * counting). One model shape for
 * all three: a visual prefix token then a GPT-2-style decoder, random weights; every sequence runs
 * to maxLen (no end-of-sequence), so each decodes the same number of tokens.
 *   npx tsx bench/generate.ts [--width 256] [--depth 4] [--vocab 8192] [--len 32] [--batch 1,4] [--reps 3] [--python /usr/bin/python3]
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { COUNT, numberFlag, numberList } from './flags.ts';
import { compile } from '../src/compiler/compile.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { vl } from '../src/dsl/index.ts';
import type { Dataset } from '../src/runtime/batches.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { initialWeights, prng } from '../src/runtime/init.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { median } from '../src/runtime/timing.ts';
import { greedyIds } from '../src/train/caption-eval.ts';
import { KvDecoder } from '../src/train/kv-generate.ts';
import { stopwatch } from './stopwatch.ts';

const { values: o } = parseArgs({
  options: {
    width: { type: 'string', default: '256' },
    depth: { type: 'string', default: '4' },
    heads: { type: 'string', default: '4' },
    vocab: { type: 'string', default: '8192' },
    len: { type: 'string', default: '32' },
    batch: { type: 'string', default: '1,4' },
    reps: { type: 'string', default: '3' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const [width, depth, heads, vocab, L, reps] = (['width', 'depth', 'heads', 'vocab', 'len', 'reps'] as const).map((f) =>
  numberFlag('generate', f, o[f]!, COUNT),
);
const spec = vl.model({
  vision: vl.vit({ image: [16, 16], patch: 8, width, depth: 1, heads }),
  text: vl.decoder({ vocab, maxLen: L, width, depth, heads }),
  visualPrefix: 'pooled',
  head: vl.lm(),
}).spec;
// No end-of-sequence: every sequence decodes maxLen tokens.
const settings = { eos: -1, pad: 0 };
const gpu = await acquireDevice();
console.log(
  `adapter: ${gpu.info.description}; decoder width ${width}, depth ${depth}, heads ${heads}, vocab ${vocab}, ${L} tokens after one prefix token`,
);
const rows: string[] = [];
for (const B of numberList('generate', 'batch', o.batch!, COUNT)) {
  const r = prng(1);
  const graph = lowerModel(spec, { batch: B, mode: 'infer', loss: false }).graph;
  const w = initialWeights(graph, 3);
  const data: Dataset = {
    examples: Array.from({ length: B }, () => ({
      image: Float32Array.from({ length: 256 }, () => r() * 2 - 1),
      tokens: new Int32Array(L),
      mask: new Float32Array(L),
    })),
  };
  const lap = stopwatch();
  const full = await Executor.create(
    gpu,
    compile(graph, { batch: B, mode: 'infer', loss: false, profile: profileOf(gpu) }).plan,
  );
  for (const k of Object.keys(full.plan.params)) full.setParam(k, w[k]);
  const kv = await KvDecoder.create(gpu, spec, B);
  kv.setWeights(w);
  const setup = lap();
  const batch = {
    image: Float32Array.from(data.examples.flatMap((e) => [...(e.image as Float32Array)])),
    tokens: new Int32Array(B * L),
    mask: new Float32Array(B * L),
  };
  // Warm-up (shader compilation), and the check that both decode the same tokens.
  const a = await greedyIds(full, spec, data, B, settings);
  const b = await kv.greedy(batch, settings);
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error('the cached and recomputed decodes differ');
  const times = { recompute: [] as number[], kv: [] as number[] };
  for (let i = 0; i < reps; i++) {
    lap();
    await greedyIds(full, spec, data, B, settings);
    times.recompute.push(lap());
    await kv.greedy(batch, settings);
    times.kv.push(lap());
  }
  full.destroy();
  kv.destroy();
  const tps = (s: number) => (B * L) / s;
  const [rec, cached] = [median(times.recompute), median(times.kv)];
  let torch = 'not run (no torch)';
  if (existsSync(o.python)) {
    try {
      // 2 threads (both cores), and 1: on this 2-core machine one thread is faster at small batches (OpenMP overhead); the better counts.
      const run = (threads: number) =>
        (
          JSON.parse(
            execFileSync(
              o.python,
              [
                join(import.meta.dirname, 'generate_torch.py'),
                ...[width, depth, heads, vocab, L, B, reps, threads].map(String),
              ],
              { encoding: 'utf8' },
            )
              .trim()
              .split('\n')
              .at(-1)!,
          ) as { seconds: number }
        ).seconds;
      const [two, one] = [run(2), run(1)];
      const best = Math.min(two, one);
      torch = `${tps(best).toFixed(1)} tokens/s at ${best === one ? 1 : 2} thread${best === one ? '' : 's'} (2 threads: ${tps(two).toFixed(1)}); peftgraph KV / PyTorch ${(best / cached).toFixed(2)}x`;
    } catch (e) {
      torch = `failed: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  rows.push(
    `| ${B} | ${tps(rec).toFixed(1)} | ${tps(cached).toFixed(1)} | ${(rec / cached).toFixed(2)}x | ${torch} | ${setup.toFixed(1)} s |`,
  );
  console.log(rows.at(-1));
}
console.log(
  '\n| batch | recompute tokens/s | KV cache tokens/s | KV / recompute | PyTorch CPU (past_key_values) | plans (compile + load) |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);
gpu.destroy();
