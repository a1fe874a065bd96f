/**
 * Tensors larger than one binding. WebGPU binds a storage buffer range of at most
 * maxStorageBufferBindingSize bytes (128 MiB by default, and on lavapipe, browsers and many
 * laptop GPUs), while a buffer may be far larger (maxBufferSize). A tensor over the binding limit
 * keeps one buffer and is bound as consecutive ranges ("chunks"), each at most the limit and
 * starting at a multiple of 256 bytes (WebGPU's largest storage offset alignment). The memory plan
 * binds the ranges (passes/memory.ts) and the WGSL renderer reads and writes element i through
 * an accessor that picks the range (codegen/kernels.ts), so every kernel shape is correct over a
 * split tensor without knowing it: gathers, matmul operands and outputs, row kernels over a
 * 50k-wide vocabulary, scatters and the packed optimizer.
 */

/** Offsets of bound ranges are multiples of this (minStorageBufferOffsetAlignment is at most 256). */
export const CHUNK_ALIGN = 256;

/** Bytes each range but the last covers under binding limit `limit`. */
export function chunkBytes(limit: number): number {
  const c = Math.floor(limit / CHUNK_ALIGN) * CHUNK_ALIGN;
  if (c <= 0)
    throw new Error(`split-bindings: a binding limit of ${limit} bytes cannot hold one ${CHUNK_ALIGN}-byte range`);
  return c;
}

/** Ranges a tensor of `bytes` is bound as: 1 when it fits one binding. */
export function chunkCount(bytes: number, limit: number): number {
  return bytes <= limit ? 1 : Math.ceil(bytes / chunkBytes(limit));
}

/** The ranges ({ offset, bytes } from the tensor's start) a tensor of `bytes` is bound as. */
export function chunkRanges(bytes: number, limit: number): { offset: number; bytes: number }[] {
  if (bytes <= limit) return [{ offset: 0, bytes }];
  const c = chunkBytes(limit);
  return Array.from({ length: Math.ceil(bytes / c) }, (_, k) => ({ offset: k * c, bytes: Math.min(c, bytes - k * c) }));
}

/** How a kernel sees one node's buffer: `count` bindings of `elems` elements each (the last may hold fewer). */
export interface BindingSplit {
  count: number;
  elems: number;
}
