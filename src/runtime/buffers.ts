/**
 * Storage buffers: pooled allocation by power-of-two size class, upload, and readback through
 * pooled staging buffers. Readbacks await via gpuWait so Dawn's polling leaves lavapipe its cores.
 */
import './webgpu.ts';
import type { Gpu } from './device.ts';
import { gpuWait } from './gpu-wait.ts';

export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const STAGING_USAGE = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
const MIN_BYTES = 256;

/** Rounds up to the pool's size class: a power of two, at least 256 bytes. */
export function sizeClass(bytes: number): number {
  let s = MIN_BYTES;
  while (s < bytes) s *= 2;
  return s;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly live = new Set<GPUBuffer>();
  allocatedBytes = 0;

  constructor(private readonly gpu: Gpu) {}

  acquire(bytes: number, usage: number = STORAGE_USAGE, label?: string): GPUBuffer {
    const size = sizeClass(bytes);
    const max = this.gpu.limits.maxBufferSize ?? Infinity;
    if (size > max && bytes <= max) return this.create(bytes, usage, label);
    if (bytes > max) {
      throw new Error(`buffer '${label ?? '?'}' needs ${bytes} bytes; the adapter's maxBufferSize is ${max}`);
    }
    const list = this.free.get(`${usage}:${size}`);
    const buf = list?.pop() ?? this.create(size, usage, label);
    this.live.add(buf);
    return buf;
  }

  private create(size: number, usage: number, label?: string): GPUBuffer {
    const buf = this.gpu.device.createBuffer({ size, usage, label });
    this.allocatedBytes += size;
    this.live.add(buf);
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) throw new Error(`release of a buffer this pool does not hold (${buf.label})`);
    const key = `${buf.usage}:${buf.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buf);
  }

  /** Destroys every buffer the pool made, live or free. */
  destroy(): void {
    for (const b of this.live) b.destroy();
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.live.clear();
    this.free.clear();
    this.allocatedBytes = 0;
  }
}

type Typed = Float32Array | Int32Array | Uint32Array | Uint16Array;

/** Writes `data` at `offset` bytes into `buf` (queued; ordered before later submissions). */
export function upload(gpu: Gpu, buf: GPUBuffer, data: Typed, offset = 0): void {
  if (offset + data.byteLength > buf.size) {
    throw new Error(`upload of ${data.byteLength} bytes at ${offset} overflows buffer '${buf.label}' (${buf.size} bytes)`);
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
  const buf = gpu.device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 4) * 4), usage: STORAGE_USAGE, label });
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
