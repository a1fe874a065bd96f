/**
 * The adapter's ceiling, and peftgraph's matmuls against it (issue 34), in one run:
 * - peak fp32 FMA throughput: a WGSL kernel of register-only vec4 FMA chains, enough workgroups
 *   for every core;
 * - memory bandwidth: a WGSL streaming copy of one 64 MiB buffer into another;
 * - the same two from C on the same cores (bench/ceiling.c, OpenMP over every core), when gcc is
 *   there: on lavapipe this shows what the software adapter itself costs;
 * - peftgraph's matmul at 512^3 and at every distinct matmul of four training steps (the full-
 *   finetuning step at batch 32, the example's MixPHM step at batch 16, the base-size routed LoRA
 *   step ViT-B/16 + RoBERTa-base at batch 4, the peers' MLP step), each with the variant the
 *   step's plan chose, timed alone in rounds alternating with the 512^3 matmul (the fastest of
 *   --rounds each), as GFLOP/s, against the 512^3 runs beside it, and as a fraction of the WGSL
 *   FMA ceiling; then per step and shape class, the FLOP-weighted rate;
 * - the dispatch floor (a 1x1x1 matmul) and its share of each matmul's time;
 * - where the plan's variant is not what the rule before 'packed' tiles chose, that one too, timed
 *   in the same rounds (before and after side by side).
 *   npx tsx bench/ceiling.ts [--rounds 3] [--steps full,mixphm,base,mlp] [--cache .bench-cache]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Builder } from '../src/compiler/builder.ts';
import { variantLabel, type MatmulVariant } from '../src/compiler/codegen/kernels.ts';
import { compile } from '../src/compiler/compile.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { compilePlan, type DeviceProfile, type Plan } from '../src/compiler/plan.ts';
import type { ModelSpec } from '../src/dsl/spec.ts';
import { acquireDevice, type Gpu } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { queueIdle } from '../src/runtime/recorder.ts';
import { repsFor, timeRecorded } from '../src/runtime/timing.ts';
import { compileStep } from '../src/train/train-step.ts';
import model from '../examples/mnist-vqa.spec.ts';
import { fullFinetuning } from './full-finetuning.ts';
import { baseRoutedLora } from './base-routed.ts';
import { mlpBlock } from './mlp-block.ts';
import { beforePacked } from './matmul-rules.ts';
import { numberFlag } from './flags.ts';

const { values: o } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: 'full,mixphm,base,mlp' },
    cache: { type: 'string', default: '.bench-cache' },
  },
});
const ROUNDS = numberFlag('ceiling', 'rounds', o.rounds!, { integer: true, min: 1 });
const gpu = await acquireDevice();
const profile = profileOf(gpu);

/** Seconds of `record`ed work per submission: the fastest of `rounds` submissions of `reps`. */
async function best(record: (pass: GPUComputePassEncoder) => void, reps: number, rounds = ROUNDS): Promise<number> {
  let min = Number.POSITIVE_INFINITY;
  for (let r = 0; r <= rounds; r++) {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < reps; i++) record(pass);
    pass.end();
    const t0 = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await queueIdle(gpu);
    // The first submission compiles the pipeline (llvmpipe compiles on first use): not counted.
    if (r > 0) min = Math.min(min, (performance.now() - t0) / 1000 / reps);
  }
  return min;
}

function pipeline(code: string): GPUComputePipeline {
  return gpu.device.createComputePipeline({
    layout: 'auto',
    compute: { module: gpu.device.createShaderModule({ code }), entryPoint: 'main' },
  });
}

/** Peak FMA rate: each invocation runs CHAINS independent vec4 chains a = fma(a, m, c) in registers. */
async function fmaCeiling(): Promise<{ gflops: number; threads: number }> {
  const CHAINS = 8;
  const WG = 64;
  const groups = 1024;
  const iters = gpu.info.isSoftware ? 2048 : 65536;
  const acc = Array.from({ length: CHAINS }, (_, i) => `var a${i} = vec4<f32>(f32(g.x) * 1e-7 + ${i}.0);`);
  const code = `@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> p: vec4<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  ${acc.join('\n  ')}
  let m = vec4<f32>(p.x);
  let c = vec4<f32>(p.y);
  let n = u32(p.z);
  for (var i = 0u; i < n; i++) {
    ${Array.from({ length: CHAINS }, (_, i) => `a${i} = fma(a${i}, m, c);`).join('\n    ')}
  }
  out[g.x] = ${Array.from({ length: CHAINS }, (_, i) => `a${i}`).join(' + ')};
}`;
  const pipe = pipeline(code);
  const out = gpu.device.createBuffer({ size: groups * WG * 16, usage: GPUBufferUsage.STORAGE });
  const uni = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  gpu.device.queue.writeBuffer(uni, 0, new Float32Array([0.9999, 0.5, iters, 0]));
  const bind = gpu.device.createBindGroup({
    layout: pipe.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: out } },
      { binding: 1, resource: { buffer: uni } },
    ],
  });
  const s = await best((pass) => {
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(groups);
  }, 2);
  out.destroy();
  uni.destroy();
  return { gflops: (groups * WG * iters * CHAINS * 4 * 2) / s / 1e9, threads: groups * WG };
}

/** Streaming copy bandwidth: bytes read plus bytes written per second, one 64 MiB buffer into another. */
async function copyCeiling(): Promise<number> {
  const bytes = 64 << 20;
  const WG = 256;
  const n = bytes / 16;
  const code = `@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x + g.y * ${(n / WG / 16) * WG}u;
  dst[i] = src[i];
}`;
  const pipe = pipeline(code);
  const src = gpu.device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const dst = gpu.device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  gpu.device.queue.writeBuffer(src, 0, new Float32Array(bytes / 4).fill(1));
  const bind = gpu.device.createBindGroup({
    layout: pipe.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: src } },
      { binding: 1, resource: { buffer: dst } },
    ],
  });
  // 16 rows of n / 16 elements: the grid stays under 65535 workgroups a dimension.
  const s = await best((pass) => {
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(n / WG / 16, 16);
  }, 3);
  src.destroy();
  dst.destroy();
  return (2 * bytes) / s / 1e9;
}

/** bench/ceiling.c on the same cores, if gcc can build it. */
function cCeiling(): { threads: number; fma_gflops: number; copy_gbs: number } | null {
  const exe = join(mkdtempSync(join(tmpdir(), 'pg-ceiling-')), 'ceiling');
  try {
    execFileSync('gcc', [
      '-O3',
      '-march=native',
      '-ffp-contract=fast',
      '-fopenmp',
      join(import.meta.dirname, 'ceiling.c'),
      '-o',
      exe,
    ]);
    return JSON.parse(execFileSync(exe, { encoding: 'utf8' }).trim());
  } catch (e) {
    console.log(`(no C figures: ${(e as Error).message.split('\n')[0]})`);
    return null;
  }
}

interface Shape {
  M: number;
  K: number;
  N: number;
  batch: number[];
  tA: boolean;
  tB: boolean;
  variant?: MatmulVariant;
  /** The variant the rule before 'packed' tiles chose, where it differs (timed beside the plan's). */
  before?: MatmulVariant;
}

const flopsOf = (s: Shape) => 2 * s.M * s.K * s.N * s.batch.reduce((p, q) => p * q, 1);
const keyOf = (s: Shape) =>
  `${s.batch.length ? `[${s.batch}] ` : ''}${s.M}x${s.K}x${s.N}${s.tA ? ' tA' : ''}${s.tB ? ' tB' : ''}`;
const variantName = (v?: MatmulVariant) => (v ? variantLabel(v) : 'default');

/**
 * The shape class a matmul of a step belongs to (issue 34's list), first match: attention's
 * batched blocks; weight gradients (A transposed: a reduction over the batch's rows); thin (a
 * LoRA or adapter bottleneck: K or N at most 64 against a side at least 4 times wider); wide
 * (K and N at least 768); else other (the small example towers' 64-wide layers land here).
 */
function classOf(s: Shape): string {
  const [lo, hi] = [Math.min(s.K, s.N), Math.max(s.K, s.N)];
  if (s.batch.length) return 'attention blocks (batched)';
  if (s.tA) return 'weight gradient (A transposed)';
  if (lo <= 64 && hi >= 4 * lo) return 'thin (bottleneck: K or N <= 64, the other >= 4x)';
  if (lo >= 768) return 'wide (K, N >= 768)';
  return 'other';
}

/** One matmul of `s` alone, with its variant, ready to time: seconds per run, the fastest of `rounds`. */
async function matmulTimer(s: Shape): Promise<{ time(rounds: number): Promise<number>; destroy(): void }> {
  const b = new Builder();
  const a = b.input('a', [...s.batch, ...(s.tA ? [s.K, s.M] : [s.M, s.K])]);
  const w = b.input('b', [...s.batch, ...(s.tB ? [s.N, s.K] : [s.K, s.N])]);
  b.output('y', a.matmul(w, { transA: s.tA, transB: s.tB }));
  const ex = await Executor.create(
    gpu,
    compilePlan(b.g, profile, s.variant ? { matmulVariant: () => s.variant! } : {}),
  );
  await timeRecorded(gpu, (r) => ex.recordKernel(r, 0)); // first use compiles the pipeline
  const reps = await repsFor(gpu, (r) => ex.recordKernel(r, 0), 25);
  return {
    async time(rounds: number) {
      let min = Number.POSITIVE_INFINITY;
      for (let r = 0; r < rounds; r++) min = Math.min(min, await timeRecorded(gpu, (x) => ex.recordKernel(x, 0), reps));
      return min / 1000;
    },
    destroy: () => ex.destroy(),
  };
}

const CUBE: Shape = { M: 512, K: 512, N: 512, batch: [], tA: false, tB: false };
/** A 1x1x1 matmul: its time is a matmul dispatch's fixed cost (launch, bindings, one workgroup). */
const UNIT: Shape = { M: 1, K: 1, N: 1, batch: [], tA: false, tB: false };

/** Seconds of the UNIT matmul: the floor under every dispatch, the fastest of 4 x --rounds. */
async function dispatchFloor(): Promise<number> {
  const t = await matmulTimer(UNIT);
  try {
    return await t.time(4 * ROUNDS);
  } finally {
    t.destroy();
  }
}

/** peftgraph's 512^3 matmul with the default variant, GFLOP/s. */
async function timeCube(): Promise<number> {
  const t = await matmulTimer(CUBE);
  try {
    return flopsOf(CUBE) / (await t.time(ROUNDS)) / 1e9;
  } finally {
    t.destroy();
  }
}

/**
 * Seconds of `s` and of the 512^3 matmul timed in alternating rounds, each the fastest of its
 * rounds: the ratio of their rates is side by side, whatever this machine's speed does meanwhile.
 */
async function besideCube(
  s: Shape,
  cube: Awaited<ReturnType<typeof matmulTimer>>,
): Promise<{ seconds: number; cubeSeconds: number; beforeSeconds?: number }> {
  const t = await matmulTimer(s);
  const tb = s.before ? await matmulTimer({ ...s, variant: s.before }) : null;
  try {
    let [ms, mc, mb] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    for (let r = 0; r < ROUNDS; r++) {
      ms = Math.min(ms, await t.time(1));
      if (tb) mb = Math.min(mb, await tb.time(1));
      mc = Math.min(mc, await cube.time(1));
    }
    return { seconds: ms, cubeSeconds: mc, beforeSeconds: tb ? mb : undefined };
  } finally {
    t.destroy();
    tb?.destroy();
  }
}

/** The distinct matmuls of a compiled plan, with how many times each runs and the variant the plan chose. */
function matmulsOf(plan: Plan): Map<string, Shape & { count: number }> {
  const out = new Map<string, Shape & { count: number }>();
  for (const k of plan.kernels) {
    const ir = k.ir;
    if (ir?.kind !== 'matmul') continue;
    const s: Shape = { M: ir.M, K: ir.K, N: ir.N, batch: ir.batch, tA: ir.a.trans, tB: ir.b.trans, variant: k.variant };
    const before = beforePacked(profile, [...ir.batch, ir.M, ir.N]);
    if (k.variant && variantLabel(before) !== variantLabel(k.variant)) s.before = before;
    const key = `${keyOf(s)} ${variantName(s.variant)}`;
    const have = out.get(key);
    if (have) have.count++;
    else out.set(key, { ...s, count: 1 });
  }
  return out;
}

function stepPlan(spec: ModelSpec, batch: number, p: DeviceProfile): Plan {
  return compile(lowerModel(spec, { batch, mode: 'train' }).graph, { batch, mode: 'train', profile: p }).plan;
}

const STEPS: Record<string, { title: string; plan: () => Plan }> = {
  full: {
    title: "full finetuning, the example's towers, batch 32",
    plan: () => stepPlan(fullFinetuning(model.spec), 32, profile),
  },
  mixphm: { title: "the example's MixPHM + routed LoRA step, batch 16", plan: () => stepPlan(model.spec, 16, profile) },
  base: {
    title: 'base size: ViT-B/16 + RoBERTa-base, routed LoRA (inner, q v, r = 128), batch 4',
    plan: () => stepPlan(baseRoutedLora(o.cache!), 4, profile),
  },
  mlp: {
    title: "the peers' MLP step (X [512, 128], hidden 512)",
    plan: () =>
      compileStep(mlpBlock().g, profile, {
        optimizer: { kind: 'sgd', momentum: 0, weightDecay: 0, clip: 0 },
        lr: 0.5,
        schedule: { kind: 'constant' },
        totalSteps: 1e9,
        plan: {},
      }).plan,
  },
};

async function main(gpu: Gpu): Promise<void> {
  console.log(`adapter: ${gpu.info.description} (software: ${gpu.info.isSoftware}); ${new Date().toISOString()}`);
  // This machine's speed swings: every ceiling and the 512^3 rate are the best of a measurement
  // at the start and one at the end of the run.
  const first = {
    fma: await fmaCeiling(),
    copy: await copyCeiling(),
    c: cCeiling(),
    cube: await timeCube(),
    floor: await dispatchFloor(),
  };
  const steps: {
    title: string;
    shapes: (Shape & { count: number; seconds: number; cubeRate: number; beforeSeconds?: number })[];
  }[] = [];
  const cubeTimer = await matmulTimer(CUBE);
  for (const name of o.steps!.split(',')) {
    const step = STEPS[name];
    if (!step) throw new Error(`--steps: unknown step '${name}' (valid: ${Object.keys(STEPS).join(', ')})`);
    const shapes = [];
    for (const s of matmulsOf(step.plan()).values()) {
      const { seconds, cubeSeconds, beforeSeconds } = await besideCube(s, cubeTimer);
      shapes.push({ ...s, seconds, beforeSeconds, cubeRate: flopsOf(CUBE) / cubeSeconds / 1e9 });
    }
    steps.push({ title: step.title, shapes });
  }
  cubeTimer.destroy();
  const last = {
    fma: await fmaCeiling(),
    copy: await copyCeiling(),
    c: cCeiling(),
    cube: await timeCube(),
    floor: await dispatchFloor(),
  };
  const floor = Math.min(first.floor, last.floor);
  const fma = first.fma.gflops >= last.fma.gflops ? first.fma : last.fma;
  const copy = Math.max(first.copy, last.copy);
  const c =
    first.c && last.c
      ? {
          threads: first.c.threads,
          fma_gflops: Math.max(first.c.fma_gflops, last.c.fma_gflops),
          copy_gbs: Math.max(first.c.copy_gbs, last.c.copy_gbs),
        }
      : (first.c ?? last.c);
  const cube = Math.max(first.cube, last.cube);
  console.log(
    `(start, end of the run: WGSL FMA ${first.fma.gflops.toFixed(1)}, ${last.fma.gflops.toFixed(1)}; copy ${first.copy.toFixed(1)}, ${last.copy.toFixed(1)}; C FMA ${first.c?.fma_gflops ?? '-'}, ${last.c?.fma_gflops ?? '-'}; C copy ${first.c?.copy_gbs ?? '-'}, ${last.c?.copy_gbs ?? '-'}; 512^3 ${first.cube.toFixed(2)}, ${last.cube.toFixed(2)})`,
  );
  console.log('\n| ceiling | WGSL on the adapter | C on the same cores | adapter / C |');
  console.log('| --- | --- | --- | --- |');
  console.log(
    `| fp32 FMA, GFLOP/s | ${fma.gflops.toFixed(1)} (${fma.threads} invocations) | ${c ? `${c.fma_gflops.toFixed(1)} (${c.threads} threads)` : '-'} | ${c ? (fma.gflops / c.fma_gflops).toFixed(3) : '-'} |`,
  );
  console.log(
    `| streaming copy, GB/s (read + write) | ${copy.toFixed(1)} | ${c ? c.copy_gbs.toFixed(1) : '-'} | ${c ? (copy / c.copy_gbs).toFixed(3) : '-'} |`,
  );
  console.log(
    `\npeftgraph's matmul at 512^3 (default variant): ${cube.toFixed(2)} GFLOP/s = ${(cube / fma.gflops).toFixed(3)} of the FMA ceiling`,
  );
  console.log(
    `\nThe dispatch floor (a 1x1x1 matmul, start and end of the run): ${(first.floor * 1e6).toFixed(1)}, ${(last.floor * 1e6).toFixed(1)} us. "Floor" below is its share of each matmul's time: near 1, a matmul is its dispatch.`,
  );
  for (const step of steps) {
    console.log(`\n### ${step.title}\n`);
    console.log(
      '| matmul (M x K x N) | class | variant | in step | GFLOP/s | of 512^3 | of ceiling | floor | before: variant, of 512^3 |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    // A class's rate against 512^3: the time its shapes would take at the speed of the 512^3
    // runs timed beside each of them, over the time they took (side-by-side ratios).
    type Agg = { flops: number; seconds: number; cubeSeconds: number; floorSeconds: number; beforeSeconds: number };
    const classes = new Map<string, Agg>();
    for (const s of step.shapes) {
      const rate = flopsOf(s) / s.seconds / 1e9;
      const cls = classOf(s);
      const agg = classes.get(cls) ?? { flops: 0, seconds: 0, cubeSeconds: 0, floorSeconds: 0, beforeSeconds: 0 };
      agg.beforeSeconds += (s.beforeSeconds ?? s.seconds) * s.count;
      agg.floorSeconds += Math.min(floor, s.seconds) * s.count;
      agg.flops += flopsOf(s) * s.count;
      agg.seconds += s.seconds * s.count;
      agg.cubeSeconds += ((flopsOf(s) * s.count) / s.cubeRate) * 1e-9;
      classes.set(cls, agg);
      console.log(
        `| ${keyOf(s)} | ${cls} | ${variantName(s.variant)} | ${s.count} | ${rate.toFixed(2)} | ${(rate / s.cubeRate).toFixed(2)} | ${(rate / fma.gflops).toFixed(3)} | ${Math.min(1, floor / s.seconds).toFixed(2)} | ${s.before && s.beforeSeconds ? `${variantName(s.before)}, ${(flopsOf(s) / s.beforeSeconds / 1e9 / s.cubeRate).toFixed(2)}` : 'same'} |`,
      );
    }
    const total = [...classes.values()].reduce(
      (a, x) => ({
        flops: a.flops + x.flops,
        seconds: a.seconds + x.seconds,
        cubeSeconds: a.cubeSeconds + x.cubeSeconds,
        floorSeconds: a.floorSeconds + x.floorSeconds,
        beforeSeconds: a.beforeSeconds + x.beforeSeconds,
      }),
      { flops: 0, seconds: 0, cubeSeconds: 0, floorSeconds: 0, beforeSeconds: 0 },
    );
    console.log(
      '\n| class | share of matmul FLOPs | share of matmul time | GFLOP/s | of 512^3 | of ceiling | floor | of 512^3 before packed |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const [cls, x] of [...classes].sort((a, b) => b[1].seconds - a[1].seconds)) {
      const rate = x.flops / x.seconds / 1e9;
      console.log(
        `| ${cls} | ${((100 * x.flops) / total.flops).toFixed(1)}% | ${((100 * x.seconds) / total.seconds).toFixed(1)}% | ${rate.toFixed(2)} | ${(x.cubeSeconds / x.seconds).toFixed(2)} | ${(rate / fma.gflops).toFixed(3)} | ${(x.floorSeconds / x.seconds).toFixed(2)} | ${(x.cubeSeconds / x.beforeSeconds).toFixed(2)} |`,
      );
    }
    const all = total.flops / total.seconds / 1e9;
    console.log(
      `| **all matmuls** | 100% | 100% | ${all.toFixed(2)} | ${(total.cubeSeconds / total.seconds).toFixed(2)} | ${(all / fma.gflops).toFixed(3)} | ${(total.floorSeconds / total.seconds).toFixed(2)} | ${(total.cubeSeconds / total.beforeSeconds).toFixed(2)} |`,
    );
  }
}

if (!existsSync(join(import.meta.dirname, 'ceiling.c'))) throw new Error('bench/ceiling.c is missing');
await main(gpu);
gpu.destroy();
process.exit(0);
