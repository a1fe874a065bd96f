/**
 * The WebGPU backend (Dawn): buffers are GPUBuffers, a prepared kernel is a pipeline from the
 * cache and its bind group (the memory plan fixes every binding), a run records every dispatch
 * into ONE command buffer with the readback copies, submits once, and maps one staging buffer
 * per 256 MiB of outputs.
 */
import './webgpu.ts';
import { UserError } from '../user-error.ts';
import type { Plan } from '../compiler/plan.ts';
import type { Backend, HostArray, Span } from './backend.ts';
import { STORAGE_USAGE, upload } from './buffers.ts';
import type { Gpu } from './device.ts';
import { gpuWait } from './gpu-wait.ts';
import { PipelineCache } from './pipelines.ts';
import { bindGroup, StepRecorder } from './recorder.ts';
import { createSizesBuffer } from './sizes.ts';

/** The plan does not fit the adapter's memory: a user-facing limit (smaller batch or model), not a bug. */
export class GpuMemoryError extends UserError {
  override name = 'GpuMemoryError';
}

/** A kernel ready to dispatch: its pipeline, bind group and workgroup counts. */
export interface GpuKernel {
  pipeline: GPUComputePipeline;
  group: GPUBindGroup;
  workgroups: [number, number, number];
}

/** Staging buffers hold up to this many bytes each (one map per buffer). */
const STAGING_BYTES = 256 * 2 ** 20;

export class WebGpuBackend implements Backend<GPUBuffer, GpuKernel> {
  readonly kind = 'webgpu';
  /** The uniform buffers of kernel sizes, per plan (one per plan, shared by its arrangements). */
  private readonly sizes = new WeakMap<Plan, ReturnType<typeof createSizesBuffer>>();
  private readonly made: GPUBuffer[] = [];

  constructor(
    readonly gpu: Gpu,
    readonly cache = PipelineCache.for(gpu),
  ) {}

  allocate(bytes: number, label: string): GPUBuffer {
    return this.gpu.device.createBuffer({ size: Math.max(16, bytes), usage: STORAGE_USAGE, label: label.slice(0, 64) });
  }

  upload(buf: GPUBuffer, offset: number, data: HostArray | Uint16Array): void {
    upload(this.gpu, buf, data, offset);
  }

  async prepare(plan: Plan, binding: (i: number) => Span<GPUBuffer>): Promise<GpuKernel[]> {
    if (!this.gpu.hasF16 && plan.kernels.some((k) => k.wgsl.startsWith('enable f16')))
      throw new Error('plan uses f16 storage but the device has no shader-f16');
    let sizes = this.sizes.get(plan);
    if (!sizes) {
      sizes = createSizesBuffer(this.gpu, plan.kernels);
      if (sizes.buffer) this.made.push(sizes.buffer);
      this.sizes.set(plan, sizes);
    }
    const pipelines = await Promise.all(plan.kernels.map((k) => this.cache.get(k.name, k.wgsl)));
    return plan.kernels.map((k, i) => ({
      pipeline: pipelines[i],
      group: bindGroup(
        this.gpu,
        pipelines[i],
        plan.bindings[i].map((b) => {
          const s = binding(b);
          return s.whole ? { buffer: s.buf } : { buffer: s.buf, offset: s.offset, size: s.bytes };
        }),
        sizes.binding(i),
      ),
      workgroups: k.workgroups,
    }));
  }

  /** Records `kernels` into `step` (one compute pass, in order): for timing and fused submissions. */
  record(kernels: GpuKernel[], step: StepRecorder): void {
    for (const k of kernels) step.dispatch(k.pipeline, k.group, ...k.workgroups);
  }

  dispatch(kernels: GpuKernel[], reads: Span<GPUBuffer>[]): Promise<ArrayBuffer[]> {
    const step = new StepRecorder(this.gpu, 'plan');
    this.record(kernels, step);
    return this.submitReads(step, reads);
  }

  readBack(reads: Span<GPUBuffer>[]): Promise<ArrayBuffer[]> {
    return this.submitReads(new StepRecorder(this.gpu, 'read'), reads);
  }

  release(buf: GPUBuffer): void {
    buf.destroy();
  }

  /** Frees what this backend made for its plans (the sizes uniforms). */
  destroy(): void {
    for (const b of this.made.splice(0)) b.destroy();
  }

  async creating<T>(plan: Plan, create: () => Promise<T>): Promise<T> {
    const device = this.gpu.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    // The error scopes are popped whatever happens; their errors say more than a JS exception would.
    let thrown: unknown = null;
    let made: T | undefined;
    try {
      made = await create();
    } catch (e) {
      thrown = e;
    }
    const invalid = await gpuWait(() => device.popErrorScope());
    const oom = await gpuWait(() => device.popErrorScope());
    const total = plan.buffers.reduce((s, b) => s + b.bytes, 0);
    if (oom)
      throw new GpuMemoryError(
        `out of GPU memory allocating the plan's ${plan.buffers.length} buffers (${(total / 2 ** 20).toFixed(1)} MiB): ${oom.message}`,
      );
    if (invalid) throw new Error(`WebGPU rejected the plan while creating buffers or bind groups: ${invalid.message}`);
    if (thrown) throw thrown;
    return made as T;
  }

  /**
   * Records copies of `reads` into staging buffers (several tensors each, up to STAGING_BYTES and
   * the adapter's maxBufferSize), submits `step`, maps them: a read-back of many tensors is one
   * submission and a few maps. The promise resolves when they are mapped; the caller may submit
   * further steps before awaiting it.
   */
  private submitReads(step: StepRecorder, reads: Span<GPUBuffer>[]): Promise<ArrayBuffer[]> {
    const limit = Math.min(STAGING_BYTES, this.gpu.limits.maxBufferSize ?? Infinity);
    const groups: { items: { index: number; r: Span<GPUBuffer>; at: number }[]; bytes: number }[] = [];
    reads.forEach((r, index) => {
      const bytes = Math.ceil(r.bytes / 4) * 4;
      let g = groups.at(-1);
      if (!g || (g.bytes + bytes > limit && g.items.length)) groups.push((g = { items: [], bytes: 0 }));
      g.items.push({ index, r, at: g.bytes });
      g.bytes += bytes;
    });
    const staged = groups.map(({ items, bytes }) => {
      const buffer = this.gpu.device.createBuffer({
        size: Math.max(16, bytes),
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      for (const it of items) step.copy(it.r.buf, it.r.offset, buffer, it.at, Math.ceil(it.r.bytes / 4) * 4);
      return { buffer, items };
    });
    const errorsBefore = this.gpu.uncapturedErrors.length;
    step.submit();
    return this.collect(staged, reads.length, errorsBefore);
  }

  private async collect(
    staged: { buffer: GPUBuffer; items: { index: number; r: Span<GPUBuffer>; at: number }[] }[],
    count: number,
    errorsBefore: number,
  ): Promise<ArrayBuffer[]> {
    const out = new Array<ArrayBuffer>(count);
    try {
      for (const { buffer, items } of staged) {
        await gpuWait(() => buffer.mapAsync(GPUMapMode.READ));
        const mapped = buffer.getMappedRange();
        for (const { index, r, at } of items) out[index] = mapped.slice(at, at + r.bytes);
      }
      // A validation error in the submission leaves its outputs unwritten (zeros): never return them.
      const lost = this.gpu.lostReason();
      if (lost) throw new Error(`the GPU device was lost (${lost})`);
      const errors = this.gpu.uncapturedErrors.slice(errorsBefore);
      if (errors.length)
        throw new Error(
          `WebGPU reported ${errors.length} error${errors.length > 1 ? 's' : ''} while running the plan: ${errors[0].split('\n')[0]}`,
        );
      return out;
    } finally {
      for (const { buffer } of staged) buffer.destroy();
    }
  }
}
