/**
 * The kernel interpreter as a backend: a plan's buffers are ArrayBuffers laid out exactly as
 * the memory plan says (temporaries sharing buffers, packs and their parts as views, tensors
 * over the binding limit as ranges), and each kernel's description (compiler/kernel/ir.ts) runs
 * on the CPU in f32 (compiler/kernel/interpret.ts). The executor above it is the one WebGPU
 * uses, so whole training steps, ping-pong, resume and the NaN guard run in tests without a
 * GPU, and a disagreement with WebGPU points at the WGSL renderer or the driver, not the plan.
 * Slow by design (one expression walk per element): for tests and small models. Not part of
 * `peftgraph/runtime`, which carries no compiler code.
 */
import type { Plan } from '../compiler/plan.ts';
import type { Kernel } from '../compiler/kernel/ir.ts';
import { runKernel, type KBuffer } from '../compiler/kernel/interpret.ts';
import type { Backend, HostArray, Span } from './backend.ts';

/** A kernel ready to run: its description and the typed view of each node it touches. */
export interface CpuKernel {
  name: string;
  ir: Kernel;
  views: Map<number, KBuffer>;
}

export class InterpreterBackend implements Backend<ArrayBuffer, CpuKernel> {
  readonly kind = 'interpreter';
  /** Kernels run so far (every dispatch), for tests that count work. */
  dispatches = 0;

  allocate(bytes: number): ArrayBuffer {
    return new ArrayBuffer(Math.max(16, bytes));
  }

  upload(buf: ArrayBuffer, offset: number, data: HostArray | Uint16Array): void {
    if (offset + data.byteLength > buf.byteLength)
      throw new Error(`upload of ${data.byteLength} bytes at ${offset} overflows a ${buf.byteLength}-byte buffer`);
    new Uint8Array(buf, offset, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  async prepare(plan: Plan, binding: (i: number) => Span<ArrayBuffer>): Promise<CpuKernel[]> {
    return plan.kernels.map((k, i) => {
      if (!k.ir || !k.storage || !k.spans)
        throw new Error(
          `interpreter backend: kernel '${k.name}' has no description (a plan loaded from an artifact); compile the plan in process`,
        );
      const nodes = [...k.reads, k.root, ...(k.siblings ?? [])];
      const views = new Map<number, KBuffer>();
      let at = 0;
      nodes.forEach((id, j) => {
        const spans = plan.bindings[i].slice(at, at + k.spans![j]).map(binding);
        at += k.spans![j];
        // Ranges over the binding limit follow each other in one buffer: the node is all of them.
        const first = spans[0];
        const bytes = spans.reduce((s, r) => s + r.bytes, 0);
        const storage = k.storage![j];
        if (storage === 'f16' || storage === 'bf16')
          throw new Error(
            `interpreter backend: kernel '${k.name}' keeps %${id} in ${storage}; plan with halfActivations: false and frozenWeights: 'f32'`,
          );
        const Typed = storage === 'i32' ? Int32Array : storage === 'u32' ? Uint32Array : Float32Array;
        views.set(id, new Typed(first.buf, first.offset, bytes / 4));
      });
      return { name: k.name, ir: k.ir, views };
    });
  }

  async dispatch(kernels: CpuKernel[], reads: Span<ArrayBuffer>[]): Promise<ArrayBuffer[]> {
    for (const k of kernels) {
      const view = (id: number) => {
        const v = k.views.get(id);
        if (!v) throw new Error(`interpreter backend: kernel '${k.name}' reads %${id}, which it does not bind`);
        return v;
      };
      runKernel(k.ir, view, view(k.ir.out));
      this.dispatches++;
    }
    return this.readBack(reads);
  }

  async readBack(reads: Span<ArrayBuffer>[]): Promise<ArrayBuffer[]> {
    return reads.map((r) => r.buf.slice(r.offset, r.offset + r.bytes));
  }

  release(): void {}

  creating<T>(_plan: Plan, create: () => Promise<T>): Promise<T> {
    return create();
  }
}
