/**
 * Runs a Plan on a device: buffers are created once, pipelines come from the cache, bind groups
 * are built once per kernel (the memory plan fixes every binding). A run uploads the inputs,
 * records every dispatch into ONE command buffer, submits once, and reads back only the
 * outputs asked for, through one staging buffer and one map.
 */
import { UserError } from '../user-error.ts';
import type { Plan, TensorSlot } from '../compiler/plan.ts';
import type { DType } from '../compiler/ir/graph.ts';
import type { Gpu } from './device.ts';
import { STORAGE_USAGE, readback, upload } from './buffers.ts';
import { PipelineCache } from './pipelines.ts';
import { createSizesBuffer } from './sizes.ts';
import { StepRecorder, bindGroup } from './recorder.ts';
import { gpuWait } from './gpu-wait.ts';
import { isHalf, toHalfBits, widen, type HalfWeights } from './half.ts';

/** The plan does not fit the adapter's memory: a user-facing limit (smaller batch or model), not a bug. */
export class GpuMemoryError extends UserError {
  override name = 'GpuMemoryError';
}

export type HostArray = Float32Array | Int32Array | Uint32Array;

/** A staging buffer and the tensors copied into it. */
interface Staging {
  buffer: GPUBuffer;
  items: { name: string; s: TensorSlot; offset: number; bytes: number }[];
}

/** Staging buffers hold up to this many bytes each (one map per buffer). */
const STAGING_BYTES = 256 * 2 ** 20;

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

/** A slot's values from device bytes at `offset`: as stored, or widened from 16 bits exactly. */
function fromDevice(s: TensorSlot, bytes: ArrayBuffer, offset: number): HostArray {
  const n = numel(s.shape);
  if (s.storage) return widen({ dtype: s.storage, bits: new Uint16Array(bytes.slice(offset, offset + n * 2)) });
  return hostArray(s.dtype, bytes.slice(offset, offset + n * 4), n);
}

/** Plan buffer `i` as bound: a whole buffer, or a packed part's range of its pack's buffer. */
function at(plan: Plan, bufs: GPUBuffer[], i: number): GPUBufferBinding {
  const view = plan.buffers[i].view;
  return view ? { buffer: bufs[view.of], offset: view.offset, size: plan.buffers[i].bytes } : { buffer: bufs[i] };
}

export class Executor {
  /** Ping-pong: the bind groups of the other arrangement of the swapped buffer pairs, and the pairs. */
  private alternate: { groups: GPUBindGroup[]; pairs: [number, number][] } | null = null;

  private constructor(
    readonly gpu: Gpu,
    readonly plan: Plan,
    /**
     * By plan buffer id, whole buffers only (a packed part is bound as a range of its pack's, at());
     * after swap() a pair's entries trade places, so slots find current values.
     */
    private readonly buffers: GPUBuffer[],
    private readonly pipelines: GPUComputePipeline[],
    private groups: GPUBindGroup[],
    /** Buffers this executor created (the others are another executor's params, shared). */
    private readonly owned: GPUBuffer[],
    /** Every kernel's bind group over an arrangement of the plan's buffers. */
    private readonly groupsFor: (buffers: GPUBuffer[]) => GPUBindGroup[],
  ) {}

  /**
   * Ping-pong instead of copying back: each pair (a param or optimizer state, and the output its
   * update is written to) trades places after every swap(), so the next run reads the update
   * where it was written. The second arrangement's bind groups are made once, here.
   */
  pingPong(pairs: [number, number][]): void {
    const other = [...this.buffers];
    for (const [a, b] of pairs) {
      if (this.plan.buffers[a].view || this.plan.buffers[b].view)
        throw new Error(`pingPong: buffers ${a} and ${b} must be whole buffers, not packed parts`);
      [other[a], other[b]] = [this.buffers[b], this.buffers[a]];
    }
    this.alternate = { groups: this.groupsFor(other), pairs };
  }

  /** Trades the ping-pong pairs' places (after a submitted step: its updates become the current values). */
  swap(): void {
    const alt = this.alternate;
    if (!alt) throw new Error('swap() without pingPong(): no buffer pairs to trade');
    [this.groups, alt.groups] = [alt.groups, this.groups];
    for (const [a, b] of alt.pairs) [this.buffers[a], this.buffers[b]] = [this.buffers[b], this.buffers[a]];
  }

  /**
   * `paramsFrom`: use that executor's param buffers for params of the same name and size, so
   * plans of one model at several batch sizes hold one copy of the weights (it must outlive this one).
   */
  static async create(
    gpu: Gpu,
    plan: Plan,
    cache = PipelineCache.for(gpu),
    opts: { paramsFrom?: Executor } = {},
  ): Promise<Executor> {
    if (!gpu.hasF16 && plan.kernels.some((k) => k.wgsl.startsWith('enable f16'))) {
      throw new Error('plan uses f16 storage but the device has no shader-f16');
    }
    gpu.device.pushErrorScope('out-of-memory');
    gpu.device.pushErrorScope('validation');
    const shared = new Map<number, GPUBuffer>();
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
        )
          shared.set(s.buffer, from.buffers[o.buffer]);
      }
    const owned: GPUBuffer[] = [];
    const create = (b: Plan['buffers'][number], i: number): GPUBuffer => {
      const have = shared.get(i);
      if (have) return have;
      const buf = gpu.device.createBuffer({
        size: Math.max(16, b.bytes),
        usage: STORAGE_USAGE,
        label: b.label.slice(0, 64),
      });
      owned.push(buf);
      return buf;
    };
    // A packed part has no buffer of its own (it is bound as a range of its pack's, see at()).
    const buffers: GPUBuffer[] = [];
    plan.buffers.forEach((b, i) => {
      if (!b.view) buffers[i] = create(b, i);
    });
    for (const c of plan.constants) {
      const { buffer, offset } = at(plan, buffers, c.buffer);
      upload(gpu, buffer, hostArray(c.dtype, c.value, c.value.length), offset);
    }
    const sizes = createSizesBuffer(gpu, plan.kernels);
    if (sizes.buffer) owned.push(sizes.buffer);
    let pipelines: GPUComputePipeline[] = [];
    let groups: GPUBindGroup[] = [];
    const groupsFor = (bufs: GPUBuffer[]) =>
      plan.kernels.map((_, i) =>
        bindGroup(
          gpu,
          pipelines[i],
          plan.bindings[i].map((b) => at(plan, bufs, b)),
          sizes.binding(i),
        ),
      );
    // The error scopes are popped whatever happens; their errors say more than a JS exception would.
    let thrown: unknown = null;
    try {
      pipelines = await Promise.all(plan.kernels.map((k) => cache.get(k.name, k.wgsl)));
      groups = groupsFor(buffers);
    } catch (e) {
      thrown = e;
    }
    const invalid = await gpuWait(() => gpu.device.popErrorScope());
    const oom = await gpuWait(() => gpu.device.popErrorScope());
    const total = plan.buffers.reduce((s, b) => s + b.bytes, 0);
    if (oom)
      throw new GpuMemoryError(
        `out of GPU memory allocating the plan's ${plan.buffers.length} buffers (${(total / 2 ** 20).toFixed(1)} MiB): ${oom.message}`,
      );
    if (invalid) throw new Error(`WebGPU rejected the plan while creating buffers or bind groups: ${invalid.message}`);
    if (thrown) throw thrown;
    return new Executor(gpu, plan, buffers, pipelines, groups, owned, groupsFor);
  }

  /** Bytes into its GPU buffer where a slot's tensor starts (non-zero for a packed part). */
  offsetOf(s: TensorSlot): number {
    return this.plan.buffers[s.buffer].view?.offset ?? 0;
  }

  /** The GPU buffer holding a slot's tensor now (after any swaps). */
  private bufferOf(s: TensorSlot): GPUBuffer {
    return this.buffers[this.rootOf(s)];
  }

  /** The whole buffer a slot's tensor lives in (its pack's, for a packed part), by plan buffer id. */
  rootOf(s: TensorSlot): number {
    return this.plan.buffers[s.buffer].view?.of ?? s.buffer;
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
    upload(this.gpu, this.bufferOf(s), host, this.offsetOf(s));
  }

  setParam(name: string, data: ArrayLike<number> | HalfWeights): void {
    this.write(this.slot('params', name), name, data);
  }

  setInput(name: string, data: ArrayLike<number>): void {
    this.write(this.slot('inputs', name), name, data);
  }

  /** Records every kernel of the plan into `step` (one compute pass, in plan order). */
  record(step: StepRecorder): void {
    this.plan.kernels.forEach((_, i) => this.recordKernel(step, i));
  }

  recordKernel(step: StepRecorder, i: number): void {
    step.dispatch(this.pipelines[i], this.groups[i], ...this.plan.kernels[i].workgroups);
  }

  /** One submission: the whole plan, then copies of the requested outputs; awaits the readback. */
  run(inputs: Record<string, ArrayLike<number>> = {}, read: string[] = []): Promise<Record<string, HostArray>> {
    return this.submit(inputs, read);
  }

  /**
   * Records the plan, then copies of the `read` outputs to one staging buffer, all in ONE command
   * buffer, and submits it. The returned promise resolves when the readback is mapped; the caller
   * may submit further steps before awaiting it.
   */
  submit(inputs: Record<string, ArrayLike<number>> = {}, read: string[] = []): Promise<Record<string, HostArray>> {
    for (const [k, v] of Object.entries(inputs)) this.setInput(k, v);
    const step = new StepRecorder(this.gpu, 'plan');
    this.record(step);
    const groups = this.stage(
      step,
      read.map((name) => ({ name, s: this.slot('outputs', name) })),
    );
    const errorsBefore = this.gpu.uncapturedErrors.length;
    step.submit();
    return this.collect(groups, errorsBefore);
  }

  /**
   * Records copies of `slots` into staging buffers (several tensors each, up to STAGING_BYTES and
   * the adapter's maxBufferSize): a read-back of many tensors is one submission and a few maps,
   * not one of each per tensor.
   */
  private stage(step: StepRecorder, slots: { name: string; s: TensorSlot }[]): Staging[] {
    const limit = Math.min(STAGING_BYTES, this.gpu.limits.maxBufferSize ?? Infinity);
    const groups: { items: Staging['items']; bytes: number }[] = [];
    for (const { name, s } of slots) {
      const bytes = Math.ceil((numel(s.shape) * (s.storage ? 2 : 4)) / 4) * 4;
      let g = groups.at(-1);
      if (!g || (g.bytes + bytes > limit && g.items.length)) groups.push((g = { items: [], bytes: 0 }));
      g.items.push({ name, s, offset: g.bytes, bytes });
      g.bytes += bytes;
    }
    return groups.map(({ items, bytes }) => {
      const buffer = this.gpu.device.createBuffer({
        size: Math.max(16, bytes),
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      for (const it of items) step.copy(this.bufferOf(it.s), this.offsetOf(it.s), buffer, it.offset, it.bytes);
      return { buffer, items };
    });
  }

  /** Maps each staging buffer (after the submit that filled it) and slices out its tensors. */
  private async collect(
    groups: Staging[],
    errorsBefore = this.gpu.uncapturedErrors.length,
  ): Promise<Record<string, HostArray>> {
    const out: Record<string, HostArray> = {};
    try {
      for (const { buffer, items } of groups) {
        await gpuWait(() => buffer.mapAsync(GPUMapMode.READ));
        const mapped = buffer.getMappedRange();
        for (const { name, s, offset } of items) out[name] = fromDevice(s, mapped, offset);
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
      for (const { buffer } of groups) buffer.destroy();
    }
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
    return fromDevice(
      s,
      await readback(
        this.gpu,
        this.bufferOf(s),
        Math.ceil((numel(s.shape) * (s.storage ? 2 : 4)) / 4) * 4,
        this.offsetOf(s),
      ),
      0,
    );
  }

  /** Reads several f32 slots of one kind back, by name, in one submission. */
  readSlots(kind: 'params' | 'inputs' | 'outputs', names: string[]): Promise<Record<string, Float32Array>> {
    const step = new StepRecorder(this.gpu, 'read');
    const groups = this.stage(
      step,
      names.map((name) => ({ name, s: this.slot(kind, name) })),
    );
    step.submit();
    return this.collect(groups) as Promise<Record<string, Float32Array>>;
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
  }
}
