/**
 * Storage buffers: creation, upload, and readback through a staging buffer. Readbacks await via
 * gpuWait so Dawn's polling leaves lavapipe its cores. (The executor allocates a plan's buffers
 * itself, as the memory plan lays them out.)
 */
import './webgpu.ts';
import type { Gpu } from './device.ts';
import { gpuWait } from './gpu-wait.ts';

export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const STAGING_USAGE = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
type Typed = Float32Array | Int32Array | Uint32Array | Uint16Array;

/** Writes `data` at `offset` bytes into `buf` (queued; ordered before later submissions). */
export function upload(gpu: Gpu, buf: GPUBuffer, data: Typed, offset = 0): void {
  if (offset + data.byteLength > buf.size) {
    throw new Error(
      `upload of ${data.byteLength} bytes at ${offset} overflows buffer '${buf.label}' (${buf.size} bytes)`,
    );
  }
  // writeBuffer wants a multiple of 4 bytes.
  if (data.byteLength % 4 !== 0) {
    const padded = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
    padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    gpu.device.queue.writeBuffer(buf, offset, padded);
    return;
  }
  gpu.device.queue.writeBuffer(buf, offset, data.buffer, data.byteOffset, data.byteLength);
}

export function createStorage(gpu: Gpu, data: Typed, label?: string): GPUBuffer {
  const buf = gpu.device.createBuffer({
    size: Math.max(16, Math.ceil(data.byteLength / 4) * 4),
    usage: STORAGE_USAGE,
    label,
  });
  upload(gpu, buf, data);
  return buf;
}

/** Copies `byteLength` bytes from `src` at `offset` to the CPU; resolves once the GPU is done. */
export async function readback(gpu: Gpu, src: GPUBuffer, byteLength = src.size, offset = 0): Promise<ArrayBuffer> {
  const size = Math.ceil(byteLength / 4) * 4;
  const staging = gpu.device.createBuffer({ size, usage: STAGING_USAGE, label: `readback:${src.label}` });
  try {
    const enc = gpu.device.createCommandEncoder();
    enc.copyBufferToBuffer(src, offset, staging, 0, size);
    gpu.device.queue.submit([enc.finish()]);
    await gpuWait(() => staging.mapAsync(GPUMapMode.READ));
    return staging.getMappedRange().slice(0, byteLength);
  } finally {
    staging.destroy();
  }
}

export async function readF32(gpu: Gpu, src: GPUBuffer, count: number, offset = 0): Promise<Float32Array> {
  return new Float32Array(await readback(gpu, src, count * 4, offset));
}
