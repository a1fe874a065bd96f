/**
 * One command buffer per step: every dispatch (and copy) of a step is recorded into a single
 * encoder, all dispatches in one compute pass (WebGPU orders their storage writes), and the
 * queue sees one submit.
 */
import type { Gpu } from './device.ts';
import { gpuWait } from './gpu-wait.ts';

export class StepRecorder {
  private readonly encoder: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | null = null;
  dispatches = 0;

  constructor(
    private readonly gpu: Gpu,
    label = 'step',
  ) {
    this.encoder = gpu.device.createCommandEncoder({ label });
  }

  dispatch(pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, x: number, y = 1, z = 1): void {
    const max = this.gpu.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    if (x > max || y > max || z > max) {
      throw new Error(
        `dispatch of '${pipeline.label}' with [${x}, ${y}, ${z}] workgroups exceeds the adapter's ${max} per dimension`,
      );
    }
    this.pass ??= this.encoder.beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Finishes and submits the step's single command buffer. */
  submit(): void {
    this.endPass();
    this.gpu.device.queue.submit([this.encoder.finish()]);
  }
}

/** Resolves when everything submitted so far has run. */
export function queueIdle(gpu: Gpu): Promise<void> {
  return gpuWait(() => gpu.device.queue.onSubmittedWorkDone());
}

/** Storage buffers at bindings 0..n-1, then the kernel's sizes uniform (if any) at binding n. */
export function bindGroup(
  gpu: Gpu,
  pipeline: GPUComputePipeline,
  buffers: (GPUBuffer | GPUBufferBinding)[],
  sizes?: GPUBufferBinding,
): GPUBindGroup {
  const entries: GPUBindGroupEntry[] = buffers.map((b, binding) => ({
    binding,
    resource: 'buffer' in b ? b : { buffer: b },
  }));
  if (sizes) entries.push({ binding: buffers.length, resource: sizes });
  return gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
}
