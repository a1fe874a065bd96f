/**
 * How a tensor is stored in its buffer, which may differ from its dtype: f32 activations kept in
 * f16, frozen weights in bf16 or f16 (PlanOptions). The memory plan sizes buffers by it, and each
 * backend reads and writes through it.
 */
export type Storage = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32';

/** Bytes per element of a storage type. */
export const storageElementBytes = (s: Storage): number => (s === 'f16' || s === 'bf16' ? 2 : 4);
