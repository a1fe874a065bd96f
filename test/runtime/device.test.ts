import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { acquireDevice, NoAdapterError } from '../../src/runtime/device.ts';
import { createStorage, readF32 } from '../../src/runtime/buffers.ts';
import { PipelineCache, ShaderCompileError } from '../../src/runtime/pipelines.ts';
import { StepRecorder, bindGroup } from '../../src/runtime/recorder.ts';
import { gpuWait } from '../../src/runtime/gpu-wait.ts';
import { useGpu } from '../helpers/gpu.ts';

const FMA = /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i < arrayLength(&out)) { out[i] = a[i] * b[i] + 1.0; }
}`;

describe('device', () => {
  const gpu = useGpu();

  it('finds an adapter and reports it', () => {
    const g = gpu();
    expect(g.info.vendor.length + g.info.description.length).toBeGreaterThan(0);
    expect(g.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    // On CI the only adapter is lavapipe: assert we really run on it, not on a null backend.
    if (process.env.CI) expect(g.info.isSoftware).toBe(true);
  });

  it('runs an elementwise WGSL kernel and reads back exact results', async () => {
    const g = gpu();
    const n = 1000; // not a multiple of the workgroup size: exercises the bounds check
    const a = Float32Array.from({ length: n }, (_, i) => i - 500);
    const b = Float32Array.from({ length: n }, (_, i) => (i % 7) * 0.5);
    const pipes = new PipelineCache(g);
    const pipe = await pipes.get('fma', FMA);
    const bufs = [createStorage(g, a), createStorage(g, b), createStorage(g, new Float32Array(n))];
    const step = new StepRecorder(g);
    step.dispatch(pipe, bindGroup(g, pipe, bufs), Math.ceil(n / 64));
    step.submit();
    const out = await readF32(g, bufs[2], n);
    for (let i = 0; i < n; i++) expect(out[i]).toBe(a[i] * b[i] + 1); // products of small halves: exact in f32
    bufs.forEach((x) => x.destroy());
  });

  it('chains dispatches in one command buffer in order', async () => {
    const g = gpu();
    const n = 256;
    const pipe = await new PipelineCache(g).get('fma', FMA);
    const ones = createStorage(g, new Float32Array(n).fill(1));
    const x = createStorage(g, new Float32Array(n).fill(0));
    const y = createStorage(g, new Float32Array(n));
    const step = new StepRecorder(g);
    // y = x*1+1, x = y*1+1, y = x*1+1 -> 3
    step.dispatch(pipe, bindGroup(g, pipe, [x, ones, y]), 4);
    step.dispatch(pipe, bindGroup(g, pipe, [y, ones, x]), 4);
    step.dispatch(pipe, bindGroup(g, pipe, [x, ones, y]), 4);
    step.submit();
    expect(step.dispatches).toBe(3);
    expect([...(await readF32(g, y, n))].every((v) => v === 3)).toBe(true);
    [ones, x, y].forEach((b) => b.destroy());
  });

  it('caches pipelines by source', async () => {
    const pipes = new PipelineCache(gpu());
    const p1 = await pipes.get('fma', FMA);
    const p2 = await pipes.get('fma-again', FMA);
    expect(p2).toBe(p1);
    expect(pipes.hits).toBe(1);
    expect(pipes.misses).toBe(1);
  });

  it('reports a WGSL compile error with the kernel name and line', async () => {
    const pipes = new PipelineCache(gpu());
    const bad = '@compute @workgroup_size(1) fn main() { let x: f32 = undefined_thing; }';
    await expect(pipes.get('broken-kernel', bad)).rejects.toThrow(ShaderCompileError);
    await expect(pipes.get('broken-kernel', bad)).rejects.toThrow(/broken-kernel[\s\S]*line 1/);
  });

  it('restores setImmediate after a GPU wait', async () => {
    const before = globalThis.setImmediate;
    let during: unknown;
    await gpuWait(async () => {
      during = globalThis.setImmediate;
      return gpu().device.queue.onSubmittedWorkDone();
    });
    expect(during).not.toBe(before);
    expect(globalThis.setImmediate).toBe(before);
  });
});

describe('device errors and lifetime', () => {
  it('names the fix when no adapter matches', async () => {
    const err = await acquireDevice({ adapter: 'no-such-adapter-xyz' }).catch((e) => e);
    expect(err).toBeInstanceOf(NoAdapterError);
    expect(String(err.message)).toMatch(/scripts\/setup/);
  });

  /** Runs an ES module script in a fresh node; it must print `marker` and exit 0 by itself. */
  function expectCleanExit(script: string, marker: string, nodeArgs: string[] = []): void {
    const r = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stdout).toContain(marker);
    expect(r.signal).toBeNull(); // a crash, or a hang killed by the timeout
    expect(r.status).toBe(0);
  }

  it('lets node exit after destroy()', () => {
    expectCleanExit(
      `import { acquireDevice } from './src/runtime/device.ts';
      const g = await acquireDevice();
      g.destroy();
      console.log('destroyed');`,
      'destroyed',
    );
  });

  it('survives garbage collection between devices and exits cleanly (no use-after-free in Dawn)', () => {
    // Collecting a dropped Dawn instance while its poll callback was queued crashed this
    // every time (SIGSEGV/SIGABRT; in other processes it also hung); the instance is now held
    // for the process.
    expectCleanExit(
      `import { acquireDevice } from './src/runtime/device.ts';
      for (let i = 0; i < 5; i++) {
        const g = await acquireDevice();
        g.destroy();
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 2));
        globalThis.gc();
      }
      console.log('done');`,
      'done',
      ['--expose-gc'],
    );
  });
});
