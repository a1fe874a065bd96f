/**
 * Runs a Plan on a backend (backend.ts): buffers are allocated once as the memory plan lays them
 * out, kernels are prepared once per arrangement of them, slots (params, inputs, outputs) are
 * found in their buffers (a packed part at its offset in its pack's), plans of one model share
 * their weights, and training steps trade updated buffers with their sources (ping-pong). A
 * run uploads the inputs, runs every kernel in one submission, and reads back only the outputs
 * asked for.
 */
import type { Plan, TensorSlot } from '../compiler/plan.ts';
import type { DType } from '../compiler/ir/graph.ts';
import type { Backend, HostArray, Span } from './backend.ts';
import type { Gpu } from './device.ts';
import { isHalf, toHalfBits, widen, type HalfWeights } from './half.ts';
import { PipelineCache } from './pipelines.ts';
import type { StepRecorder } from './recorder.ts';
import { WebGpuBackend, type GpuKernel } from './webgpu-backend.ts';

export { GpuMemoryError } from './webgpu-backend.ts';
export type { HostArray } from './backend.ts';

// The runtime stays free of compiler code (artifacts load without it): a local element count.
const numel = (shape: readonly number[]) => shape.reduce((p, q) => p * q, 1);

function hostArray(dtype: DType, data: ArrayLike<number> | ArrayBuffer, n: number): HostArray {
  if (data instanceof ArrayBuffer) {
    if (dtype === 'i32') return new Int32Array(data, 0, n);
    if (dtype === 'u32') return new Uint32Array(data, 0, n);
    return new Float32Array(data, 0, n);
  }
  if (dtype === 'i32') return Int32Array.from(data);
  if (dtype === 'u32') return Uint32Array.from(data);
  return Float32Array.from(data);
}

/** A slot's values from its bytes as the device holds them: as stored, or widened from 16 bits exactly. */
function fromDevice(s: TensorSlot, bytes: ArrayBuffer): HostArray {
  const n = numel(s.shape);
  if (s.storage) return widen({ dtype: s.storage, bits: new Uint16Array(bytes.slice(0, n * 2)) });
  return hostArray(s.dtype, bytes.slice(0, n * 4), n);
}

/** Bytes a slot's tensor occupies on the device (16-bit storage included), a multiple of 4. */
const slotBytes = (s: TensorSlot) => Math.ceil((numel(s.shape) * (s.storage ? 2 : 4)) / 4) * 4;

/** An executor of a plan on WebGPU. */
export type GpuExecutor = Executor<GPUBuffer, GpuKernel>;

export class Executor<B = unknown, K = unknown> {
  /** Ping-pong: the kernels prepared over the other arrangement of the swapped buffer pairs, and the pairs. */
  private alternate: { kernels: K[]; pairs: [number, number][] } | null = null;

  private constructor(
    readonly backend: Backend<B, K>,
    readonly plan: Plan,
    /**
     * By plan buffer id, whole buffers only (a packed part is bound as a range of its pack's, at());
     * after swap() a pair's entries trade places, so slots find current values.
     */
    private readonly buffers: B[],
    private kernels: K[],
    /** Buffers this executor allocated (the others are another executor's params, shared). */
    private readonly owned: B[],
    /** Params whose buffers are another executor's (`paramsFrom`): their values are that executor's. */
    readonly sharedParams: ReadonlySet<string> = new Set(),
    /** Whether this executor made its backend (Executor.create) and so frees what the backend made. */
    private ownsBackend = false,
  ) {}

  /** A plan on WebGPU (Dawn): the default backend. */
  static async create(
    gpu: Gpu,
    plan: Plan,
    cache = PipelineCache.for(gpu),
    opts: { paramsFrom?: Executor<GPUBuffer, GpuKernel> } = {},
  ): Promise<Executor<GPUBuffer, GpuKernel>> {
    const ex = await Executor.on(new WebGpuBackend(gpu, cache), plan, opts);
    ex.ownsBackend = true;
    return ex;
  }

  /**
   * A plan on `backend`. `paramsFrom`: use that executor's param buffers for params of the same
   * name and size, so plans of one model at several batch sizes hold one copy of the weights (it
   * must outlive this one, on the same backend).
   */
  static on<B, K>(
    backend: Backend<B, K>,
    plan: Plan,
    opts: { paramsFrom?: Executor<B, K> } = {},
  ): Promise<Executor<B, K>> {
    return backend.creating(plan, async () => {
      const shared = new Map<number, B>();
      const sharedNames = new Set<string>();
      const from = opts.paramsFrom;
      if (from)
        for (const [name, s] of Object.entries(plan.params)) {
          const o = from.plan.params[name];
          // Whole buffers only: a packed part is a range of another buffer (a training plan's params).
          const [mine, theirs] = [plan.buffers[s.buffer], o && from.plan.buffers[o.buffer]];
          if (
            o &&
            o.dtype === s.dtype &&
            o.storage === s.storage &&
            mine.bytes === theirs.bytes &&
            !mine.view &&
            !theirs.view
          ) {
            shared.set(s.buffer, from.buffers[o.buffer]);
            sharedNames.add(name);
          }
        }
      const owned: B[] = [];
      // A packed part has no buffer of its own (it is bound as a range of its pack's, see spanOf()).
      const buffers: B[] = [];
      plan.buffers.forEach((b, i) => {
        if (b.view) return;
        const have = shared.get(i);
        if (have) buffers[i] = have;
        else owned.push((buffers[i] = backend.allocate(b.bytes, b.label)));
      });
      for (const c of plan.constants) {
        const { buf, offset } = spanOf(plan, buffers, c.buffer);
        backend.upload(buf, offset, hostArray(c.dtype, c.value, c.value.length));
      }
      const kernels = await backend.prepare(plan, (i) => spanOf(plan, buffers, i));
      return new Executor(backend, plan, buffers, kernels, owned, sharedNames);
    });
  }

  /**
   * Ping-pong instead of copying back: each pair (a param or optimizer state, and the output its
   * update is written to) trades places after every swap(), so the next run reads the update
   * where it was written. The second arrangement's kernels are prepared once, here.
   */
  async pingPong(pairs: [number, number][]): Promise<void> {
    const other = [...this.buffers];
    for (const [a, b] of pairs) {
      if (this.plan.buffers[a].view || this.plan.buffers[b].view)
        throw new Error(`pingPong: buffers ${a} and ${b} must be whole buffers, not packed parts`);
      [other[a], other[b]] = [this.buffers[b], this.buffers[a]];
    }
    const kernels = await this.backend.creating(this.plan, () =>
      this.backend.prepare(this.plan, (i) => spanOf(this.plan, other, i)),
    );
    this.alternate = { kernels, pairs };
  }

  /** Trades the ping-pong pairs' places (after a submitted step: its updates become the current values). */
  swap(): void {
    const alt = this.alternate;
    if (!alt) throw new Error('swap() without pingPong(): no buffer pairs to trade');
    [this.kernels, alt.kernels] = [alt.kernels, this.kernels];
    for (const [a, b] of alt.pairs) [this.buffers[a], this.buffers[b]] = [this.buffers[b], this.buffers[a]];
  }

  /** Bytes into its buffer where a slot's tensor starts (non-zero for a packed part). */
  offsetOf(s: TensorSlot): number {
    return this.plan.buffers[s.buffer].view?.offset ?? 0;
  }

  /** The whole buffer a slot's tensor lives in (its pack's, for a packed part), by plan buffer id. */
  rootOf(s: TensorSlot): number {
    return this.plan.buffers[s.buffer].view?.of ?? s.buffer;
  }

  /** Where a slot's tensor is now (after any swaps). */
  private spanOfSlot(s: TensorSlot): Span<B> {
    return { buf: this.buffers[this.rootOf(s)], offset: this.offsetOf(s), bytes: slotBytes(s) };
  }

  private slot(kind: 'params' | 'inputs' | 'outputs', name: string): TensorSlot {
    const s = this.plan[kind][name];
    if (!s)
      throw new Error(
        `plan has no ${kind.slice(0, -1)} '${name}'; it has: ${Object.keys(this.plan[kind]).join(', ') || '(none)'}`,
      );
    return s;
  }

  private write(s: TensorSlot, name: string, data: ArrayLike<number> | HalfWeights): void {
    const n = numel(s.shape);
    const length = isHalf(data) ? data.bits.length : data.length;
    if (length !== n) throw new Error(`'${name}' expects ${n} values for shape [${s.shape}], got ${length}`);
    // A frozen weight kept in 16 bits is narrowed here (or uploaded as it is when it already is).
    const host = s.storage ? toHalfBits(data, s.storage) : hostArray(s.dtype, isHalf(data) ? widen(data) : data, n);
    const at = this.spanOfSlot(s);
    this.backend.upload(at.buf, at.offset, host);
  }

  setParam(name: string, data: ArrayLike<number> | HalfWeights): void {
    this.write(this.slot('params', name), name, data);
  }

  setInput(name: string, data: ArrayLike<number>): void {
    this.write(this.slot('inputs', name), name, data);
  }

  /** Records every kernel of the plan into `step` (one compute pass, in plan order): WebGPU only. */
  record(step: StepRecorder): void {
    this.gpuBackend().record(this.kernels as GpuKernel[], step);
  }

  /** Records kernel `i` alone into `step` (per-kernel timing): WebGPU only. */
  recordKernel(step: StepRecorder, i: number): void {
    this.gpuBackend().record([this.kernels[i] as GpuKernel], step);
  }

  private gpuBackend(): WebGpuBackend {
    if (!(this.backend instanceof WebGpuBackend))
      throw new Error(`recording into a command buffer needs the WebGPU backend, not ${this.backend.kind}`);
    return this.backend;
  }

  /** One submission: the whole plan, then copies of the requested outputs; awaits the readback. */
  run(inputs: Record<string, ArrayLike<number>> = {}, read: string[] = []): Promise<Record<string, HostArray>> {
    return this.submit(inputs, read);
  }

  /**
   * Runs the plan, then copies of the `read` outputs, in one submission. The returned promise
   * resolves when they are on the host; the caller may submit further steps before awaiting it.
   */
  submit(inputs: Record<string, ArrayLike<number>> = {}, read: string[] = []): Promise<Record<string, HostArray>> {
    for (const [k, v] of Object.entries(inputs)) this.setInput(k, v);
    const slots = read.map((name) => this.slot('outputs', name));
    return this.backend
      .dispatch(
        this.kernels,
        slots.map((s) => this.spanOfSlot(s)),
      )
      .then((bytes) => Object.fromEntries(read.map((name, i) => [name, fromDevice(slots[i], bytes[i])])));
  }

  /** The slot of a param, input or output, by name. */
  slotOf(kind: 'params' | 'inputs' | 'outputs', name: string): TensorSlot {
    return this.slot(kind, name);
  }

  /** Reads a param back. */
  readParam(name: string): Promise<HostArray> {
    return this.readSlot('params', name);
  }

  /** Reads any named slot back (a param, an input such as optimizer state, an output). */
  async readSlot(kind: 'params' | 'inputs' | 'outputs', name: string): Promise<HostArray> {
    const s = this.slot(kind, name);
    const [bytes] = await this.backend.readBack([this.spanOfSlot(s)]);
    return fromDevice(s, bytes);
  }

  /** Reads several f32 slots of one kind back, by name, in one submission. */
  async readSlots(kind: 'params' | 'inputs' | 'outputs', names: string[]): Promise<Record<string, Float32Array>> {
    const slots = names.map((name) => this.slot(kind, name));
    const bytes = await this.backend.readBack(slots.map((s) => this.spanOfSlot(s)));
    return Object.fromEntries(names.map((name, i) => [name, fromDevice(slots[i], bytes[i]) as Float32Array]));
  }

  destroy(): void {
    for (const b of this.owned) this.backend.release(b);
    // A backend others share (Executor.on) is its maker's to destroy.
    if (this.ownsBackend) this.backend.destroy?.();
  }
}

/** Plan buffer `i` as bound: a whole buffer, or a packed part's (or a range's) bytes of its root buffer. */
function spanOf<B>(plan: Plan, bufs: B[], i: number): Span<B> {
  const b = plan.buffers[i];
  return b.view
    ? { buf: bufs[b.view.of], offset: b.view.offset, bytes: b.bytes }
    : { buf: bufs[i], offset: 0, bytes: b.bytes, whole: true };
}
