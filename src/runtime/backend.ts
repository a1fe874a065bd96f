/**
 * The backend boundary: what runs a plan's kernels. A plan (compiler/plan.ts) is backend-neutral
 * data: kernel descriptions, buffers laid out by the memory plan, dispatch order, bindings. The
 * executor (executor.ts) does everything that follows from the plan alone (which buffer a slot
 * lives in, packs and their views, parameters shared between plans, ping-pong); a backend does
 * what needs a device. Two implement it: WebGPU through Dawn (webgpu-backend.ts), and the
 * kernel interpreter on the CPU (interpreter-backend.ts), which runs whole training steps in
 * tests without a GPU.
 */
import type { Plan } from '../compiler/plan.ts';

export type HostArray = Float32Array | Int32Array | Uint32Array;

/** Bytes of a device buffer: where a binding, an upload or a readback starts, and how long it is. */
export interface Span<B> {
  buf: B;
  offset: number;
  bytes: number;
  /** The whole buffer (bound without a size: a 16-byte minimum allocation stays visible to the kernel). */
  whole?: boolean;
}

export interface Backend<B = unknown, K = unknown> {
  readonly kind: 'webgpu' | 'interpreter';
  /** A zero-filled device buffer of at least `bytes`. */
  allocate(bytes: number, label: string): B;
  /** Writes `data` at byte `offset` of `buf`, ordered before later runs. */
  upload(buf: B, offset: number, data: HostArray | Uint16Array): void;
  /**
   * Readies every kernel of `plan` over one arrangement of its buffers: `binding(i)` is plan
   * buffer i as bound (a whole buffer, or a range of one). Called once more for the ping-pong
   * arrangement, with the pairs' buffers traded.
   */
  prepare(plan: Plan, binding: (i: number) => Span<B>): Promise<K[]>;
  /** Runs `kernels` in order (one submission), then copies `reads` to the host; resolves with their bytes. */
  dispatch(kernels: K[], reads: Span<B>[]): Promise<ArrayBuffer[]>;
  /** Copies `reads` to the host after everything submitted so far. */
  readBack(reads: Span<B>[]): Promise<ArrayBuffer[]>;
  /** Frees a buffer this backend allocated. */
  release(buf: B): void;
  /**
   * Runs `create` (allocation, upload and preparation of a plan) so that what the device refuses
   * (out of memory, an invalid binding) is thrown, naming `plan`.
   */
  creating<T>(plan: Plan, create: () => Promise<T>): Promise<T>;
  /** Frees what the backend made beyond the buffers it was asked for. */
  destroy?(): void;
}
