/**
 * Kernel sizes on the device: every kernel's u32 sizes (KernelSpec.sizes: the extents, strides
 * and counts its shader reads instead of literals) packed into ONE uniform buffer, each kernel's
 * block at an offset aligned as the adapter requires. Written once when the plan is loaded.
 */
import type { Gpu } from './device.ts';

export interface SizesBuffer {
  buffer: GPUBuffer | null;
  /** Kernel i's uniform binding, or undefined when it reads no sizes. */
  binding(i: number): GPUBufferBinding | undefined;
}

export function createSizesBuffer(gpu: Gpu, kernels: readonly { sizes?: readonly number[] }[]): SizesBuffer {
  const align = gpu.limits.minUniformBufferOffsetAlignment ?? 256;
  const at: { offset: number; size: number }[] = [];
  let total = 0;
  for (const k of kernels) {
    const n = k.sizes?.length ?? 0;
    // A WGSL array<vec4<u32>, ceil(n / 4)>: 16 bytes per four sizes.
    const size = Math.ceil(n / 4) * 16;
    at.push({ offset: total, size });
    if (size) total += Math.ceil(size / align) * align;
  }
  if (total === 0) return { buffer: null, binding: () => undefined };
  const data = new Uint32Array(total / 4);
  kernels.forEach((k, i) => {
    if (k.sizes?.length) data.set(k.sizes, at[i].offset / 4);
  });
  const buffer = gpu.device.createBuffer({
    size: total,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    label: 'kernel sizes',
  });
  gpu.device.queue.writeBuffer(buffer, 0, data);
  return { buffer, binding: (i) => (at[i].size ? { buffer, offset: at[i].offset, size: at[i].size } : undefined) };
}
