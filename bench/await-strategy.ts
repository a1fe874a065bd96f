/**
 * How peftgraph awaits GPU work: Dawn's own setImmediate spin vs the timer shim (gpu-wait.ts).
 * A "step" records a few compute-heavy dispatches, submits once and reads back a small result,
 * as a training step reading its loss does. Modes alternate in blocks (ABAB...) so machine
 * noise hits both alike; the ratio is what to read.
 *
 *   npx tsx bench/await-strategy.ts [--steps 12] [--rounds 4] [--n 384]
 */
import { parseArgs } from 'node:util';
import { acquireDevice } from '../src/runtime/device.ts';
import { createStorage, readF32 } from '../src/runtime/buffers.ts';
import { PipelineCache } from '../src/runtime/pipelines.ts';
import { StepRecorder, bindGroup } from '../src/runtime/recorder.ts';
import { setWaitMode, type WaitMode } from '../src/runtime/gpu-wait.ts';
import { median } from '../src/runtime/timing.ts';
import { numberFlag } from './flags.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '12' },
    rounds: { type: 'string', default: '4' },
    n: { type: 'string', default: '384' },
  },
});
const steps = numberFlag('await-strategy', 'steps', values.steps!, { integer: true, min: 1 }),
  rounds = numberFlag('await-strategy', 'rounds', values.rounds!, { integer: true, min: 1 }),
  n = numberFlag('await-strategy', 'n', values.n!, { integer: true, min: 1 });

// Plain (non-tiled) matmul: enough arithmetic per dispatch to keep lavapipe's threads busy.
const code = /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
const N = ${n}u;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= N || id.y >= N) { return; }
  var acc = 0.0;
  for (var k = 0u; k < N; k++) { acc += a[id.y * N + k] * b[k * N + id.x]; }
  c[id.y * N + id.x] = acc;
}`;

const gpu = await acquireDevice();
console.log(`adapter: ${gpu.info.description}`);
const pipe = await new PipelineCache(gpu).get('matmul-naive', code);
const rnd = () => Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
const [a, b, c] = [createStorage(gpu, rnd()), createStorage(gpu, rnd()), createStorage(gpu, new Float32Array(n * n))];
const bg = bindGroup(gpu, pipe, [a, b, c]);

async function runSteps(): Promise<number> {
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) {
    const step = new StepRecorder(gpu);
    for (let d = 0; d < 4; d++) step.dispatch(pipe, bg, Math.ceil(n / 8), Math.ceil(n / 8));
    step.submit();
    await readF32(gpu, c, 4); // the "loss" readback
  }
  return (performance.now() - t0) / steps;
}

const times: Record<WaitMode, number[]> = { spin: [], timer: [] };
await runSteps(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const m of (r % 2 ? ['timer', 'spin'] : ['spin', 'timer']) as WaitMode[]) {
    setWaitMode(m);
    times[m].push(await runSteps());
  }
}
const ms = { spin: median(times.spin), timer: median(times.timer) };
const gflop = (4 * 2 * n ** 3) / 1e9;
console.log(`step = 4 x matmul ${n}^3 + 16-byte readback; ${steps} steps x ${rounds} rounds per mode`);
console.log(
  `spin  (Dawn setImmediate): ${ms.spin.toFixed(1)} ms/step  (${(gflop / (ms.spin / 1e3)).toFixed(2)} GFLOP/s)  all: ${times.spin.map((t) => t.toFixed(1)).join(' ')}`,
);
console.log(
  `timer (peftgraph shim):    ${ms.timer.toFixed(1)} ms/step  (${(gflop / (ms.timer / 1e3)).toFixed(2)} GFLOP/s)  all: ${times.timer.map((t) => t.toFixed(1)).join(' ')}`,
);
console.log(`speed-up of timer over spin: ${(ms.spin / ms.timer).toFixed(2)}x`);
gpu.destroy();
