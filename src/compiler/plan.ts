/**
 * From a graph to a runnable plan, in two steps: the backend-neutral plan (fusion, each kernel's
 * description in dispatch order, storage, the memory plan: planKernels), then the WGSL renderer
 * (renderPlan). The plan is plain data (serializable): an executor needs nothing else.
 */
import { numel, type DType, type Graph, type Node } from './ir/graph.ts';
import { fuse, packsOf, type Group } from './passes/fuse.ts';
import { renderKernel, type KernelSpec, type MatmulVariant } from './codegen/kernels.ts';
import { describeGroup, foldsBatch } from './kernel/describe.ts';
import type { Kernel } from './kernel/ir.ts';
import { planMemory, PlanLimitError, storageBytes, type MemoryPlan, type PhysicalBuffer } from './passes/memory.ts';
import { chunkBytes, chunkCount, type BindingSplit } from './passes/split-bindings.ts';
import type { SizeMode } from './codegen/wgsl.ts';
import { storageElementBytes, type Storage } from './ir/storage.ts';
import { attrsOf, paramInfo } from './ir/attrs.ts';

export interface DeviceProfile {
  maxStorageBuffersPerShaderStage: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupsPerDimension: number;
  /** Software adapters (lavapipe) want barrier-free register-blocked kernels. */
  isSoftware: boolean;
  f16: boolean;
}

export const PORTABLE_PROFILE: DeviceProfile = {
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
  maxComputeWorkgroupsPerDimension: 65535,
  isSoftware: true,
  f16: false,
};

export interface PlanOptions {
  fuse?: boolean;
  /** Elements per thread a map kernel tries first (default 16 on a software adapter, 4 on a GPU; then 4, then 1, as its index maps allow). */
  mapElements?: number;
  /** Map kernels of 4 elements per thread load buffers read at their own index as vec4s (default: on a GPU). */
  vec4Loads?: boolean;
  /** Reductions and row kernels with few threads take workgroups of 8, so they spread over a CPU's cores (default: on a software adapter). */
  smallWorkgroups?: boolean;
  /** Map kernels over the same elements share one dispatch where they can (passes/fuse.ts, fuseSiblings). */
  siblings?: boolean;
  reuseMemory?: boolean;
  /** Store float temporaries (activations, intermediate gradients) as f16, computing in f32.
   *  Params, inputs and outputs stay f32. Default: on a hardware GPU with shader-f16; off on a
   *  software adapter, where it halves memory but buys no time (bench/results/step.md). */
  halfActivations?: boolean;
  /** Overrides the matmul kernel per node of the planned graph (the autotuner's choice). */
  matmulVariant?: (n: Node, g: Graph) => MatmulVariant | undefined;
  /** Sizes through a uniform (default: one shader per kernel structure) or as literals. */
  sizes?: SizeMode;
  /**
   * Frozen params on the device: f32 (default), or 16 bits as `torch_dtype=bfloat16` keeps them
   * (bf16 on every adapter, unpacked in the kernels; f16 where the adapter has shader-f16).
   * Kernels compute in f32 either way; trainable params and optimizer state stay f32.
   */
  frozenWeights?: FrozenWeights;
}

export type FrozenWeights = 'f32' | 'bf16' | 'f16';

export interface TensorSlot {
  buffer: number;
  shape: number[];
  dtype: DType;
  /** A frozen param kept in 16 bits (PlanOptions.frozenWeights): uploads narrow to it, readbacks widen. */
  storage?: 'bf16' | 'f16';
}

export interface Plan {
  kernels: KernelSpec[];
  buffers: PhysicalBuffer[];
  params: Record<string, TensorSlot>;
  inputs: Record<string, TensorSlot>;
  outputs: Record<string, TensorSlot>;
  /** Constant buffers' contents. */
  constants: { buffer: number; value: number[]; dtype: DType }[];
  /**
   * Kernel i binds buffers bindings[i] (reads..., out, siblings..., each node as one buffer or, over
   * the binding limit, as its ranges in order), then its sizes uniform if it has sizes.
   */
  bindings: number[][];
  stats: { nodes: number; kernels: number; peakBytes: number; peakBytesNoReuse: number; halfActivations: boolean };
}

/** Without autotuning: the kernel bench/results/matmul.md found best for the adapter kind. */
export function defaultMatmulVariant(profile: DeviceProfile, n?: Node, g?: Graph): MatmulVariant {
  if (!profile.isSoftware) return { family: 'tiled' };
  if (!n) return { family: 'reg', tm: 8, tn: 8, wgx: 8, wgy: 8 };
  const batch = numel(n.shape.slice(0, -2));
  if (batch > 1 && g && !foldsBatch(g, n)) return packedVariant(batch, n.shape.at(-2)!, n.shape.at(-1)!);
  // 8x8 outputs per thread load the fewest operands per FMA (the fastest tile at N >= 64 in
  // bench/results/matmul.md, 1.2-1.5x over 8x4). An output too small for MIN_WORKGROUPS
  // workgroups of 64 such threads (a 64x64 weight gradient: one workgroup, one core of a CPU)
  // keeps 8x8 tiles in 'packed' workgroups of 8 threads, which spread over the cores: 1.3-2x
  // over 8x4 tiles in 64-thread groups on the MixPHM step's and the towers' weight gradients
  // (bench/results/ceiling.md).
  const N = n.shape[n.shape.length - 1];
  const rows = numel(n.shape) / N;
  const groups8 = (Math.ceil(rows / 8) * Math.ceil(N / 8)) / 64;
  if (groups8 < MIN_WORKGROUPS) return { family: 'packed', tm: Math.min(8, rows), tn: Math.min(8, N), wg: 8 };
  return { family: 'reg', tm: 8, tn: N >= 64 ? 8 : 4, wgx: 8, wgy: 8 };
}

/**
 * Batched small blocks (attention's [B, heads] of L x L and L x d_head): 'packed' tiles fitted to
 * the block, 8 or 9 a side, whichever pads less (17 -> 9, 16 -> 8, 65 -> 8). They ran at 1.3-2x the
 * 'reg' tiles on the example's attention blocks (bench/results/ceiling.md, attention-tiles.ts).
 */
function packedVariant(batch: number, M: number, N: number): MatmulVariant {
  const side = (L: number) => (L <= 9 ? L : Math.ceil(L / 9) * 9 < Math.ceil(L / 8) * 8 ? 9 : 8);
  const [tm, tn] = [side(M), side(N)];
  const threads = batch * Math.ceil(M / tm) * Math.ceil(N / tn);
  // A CPU runs a workgroup on one core: too few threads for four of 64 take SIMD-wide groups.
  return { family: 'packed', tm, tn, wg: threads < 4 * 64 ? 8 : 64 };
}

/** Workgroups a software adapter's matmul should have at least, to keep every core busy. */
const MIN_WORKGROUPS = 4;

/**
 * The backend-neutral plan of a graph: its kernels as descriptions in dispatch order (each with
 * the fusion group it computes), how each node is stored and bound, and the memory plan. Any
 * backend can run it (the kernel interpreter does); renderPlan spells it in WGSL for WebGPU.
 */
export interface KernelPlan {
  graph: Graph;
  kernels: { group: Group; ir: Kernel }[];
  storage(id: number): Storage;
  /** How node `id` is bound: one binding, or ranges over the binding size limit. */
  split(id: number): BindingSplit;
  isMaterialized(id: number): boolean;
  memory: MemoryPlan;
  halfActivations: boolean;
}

/** Fusion, storage, kernel descriptions and memory: everything of a plan that is not WGSL. */
export function planKernels(g: Graph, profile: DeviceProfile, opts: PlanOptions = {}): KernelPlan {
  const limit = profile.maxStorageBufferBindingSize;
  // Fusion counts bindings before storage is chosen: as f32, which half storage only lessens.
  const bindingsAsF32 = (id: number) => chunkCount(storageBytes(numel(g.get(id).shape), 'f32'), limit);
  const fusion = fuse(g, {
    fuse: opts.fuse ?? true,
    siblings: opts.siblings ?? true,
    maxBindings: profile.maxStorageBuffersPerShaderStage,
    bindings: bindingsAsF32,
  });
  const outputs = new Set(g.outputs.values());
  const packs = packsOf(fusion.parts);
  const half = profile.f16 && (opts.halfActivations ?? !profile.isSoftware);
  const frozen = opts.frozenWeights ?? 'f32';
  if (frozen === 'f16' && !profile.f16)
    throw new PlanLimitError(
      "frozen weights in f16 need the adapter's shader-f16 feature, which it lacks; use bf16 (unpacked in the kernels on every adapter) or f32",
    );
  const storage = (id: number): Storage => {
    // A reshape that aliases a buffer is stored as that buffer is (an f32 output, param or input
    // under an f16 temp's name was read as halves: garbage, found planning for a GPU on lavapipe).
    const own = fusion.alias.get(id) ?? id;
    const n = g.get(own);
    if (n.dtype === 'i32' || n.dtype === 'u32') return n.dtype;
    if (n.op === 'param' && frozen !== 'f32' && !paramInfo(n).trainable && !fusion.parts.has(own)) return frozen;
    // Packs and their parts are f32 (a part is a slice of its pack's buffer).
    const temp =
      !['input', 'param', 'const'].includes(n.op) && !outputs.has(own) && !fusion.parts.has(own) && !packs.has(own);
    return half && temp ? 'f16' : 'f32';
  };
  // A node over the binding limit is bound as ranges of chunkBytes (passes/split-bindings.ts).
  const split = (id: number): BindingSplit => {
    const st = storage(id);
    return {
      count: chunkCount(storageBytes(numel(g.get(id).shape), st), limit),
      elems: chunkBytes(limit) / storageElementBytes(st),
    };
  };
  const isMaterialized = (id: number) => fusion.materialized.has(id);
  const groups = fusion.groups.filter((gr) => !fusion.alias.has(gr.root));
  const kernels = groups.map((group) => ({ group, ir: describeGroup({ graph: g, isMaterialized }, group) }));
  const memory = planMemory(
    g,
    groups.map((gr) => ({ root: gr.root, siblings: gr.siblings, reads: gr.reads })),
    fusion.alias,
    fusion.materialized,
    profile,
    storage,
    opts.reuseMemory ?? true,
    fusion.parts,
  );
  return { graph: g, kernels, storage, split, isMaterialized, memory, halfActivations: half };
}

/** The WGSL renderer over a neutral plan: each description as a shader for `profile`, and the bindings in the order the shaders declare them. */
export function renderPlan(kp: KernelPlan, profile: DeviceProfile, opts: PlanOptions = {}): Plan {
  const g = kp.graph;
  const mem = kp.memory;
  const ctx = {
    graph: g,
    storage: kp.storage,
    split: kp.split,
    maxWorkgroupsPerDim: profile.maxComputeWorkgroupsPerDimension,
    isMaterialized: kp.isMaterialized,
    matmulVariant: (n: Node) => opts.matmulVariant?.(n, g) ?? defaultMatmulVariant(profile, n, g),
    sizeMode: opts.sizes ?? 'uniform',
    workgroupReductions: !profile.isSoftware,
    // A CPU runs a thread's elements as one SIMD lane's loop: fewer, longer threads cost less
    // there (bench/step-options.ts --compare elements: map kernels 1.2-1.3x); a GPU wants threads.
    mapElements: opts.mapElements ?? (profile.isSoftware ? 16 : 4),
    smallWorkgroups: opts.smallWorkgroups ?? profile.isSoftware,
    // llvmpipe's SIMD lanes are invocations: a vec4 is four gathers there (the vec4 matmul family
    // measured slower, bench/results/matmul.md), so only GPUs get them.
    vec4Loads: opts.vec4Loads ?? !profile.isSoftware,
  };
  const kernels = kp.kernels.map(({ group, ir }) => renderKernel(ctx, group, ir));
  // What a backend other than WGSL's needs of each bound node: how it is stored, and how many bindings it takes.
  for (const k of kernels) {
    const bound = [...k.reads, k.root, ...(k.siblings ?? [])];
    k.storage = bound.map((id) => kp.storage(id));
    k.spans = bound.map((id) => mem.nodeBindings.get(id)!.length);
  }
  const slot = (id: number): TensorSlot => {
    const n = g.get(id);
    const st = kp.storage(id);
    return {
      buffer: mem.nodeBuffer.get(id)!,
      shape: [...n.shape],
      dtype: n.dtype,
      ...(n.op === 'param' && (st === 'bf16' || st === 'f16') ? { storage: st } : {}),
    };
  };
  const byName = (m: Map<string, Node>) =>
    Object.fromEntries([...m].filter(([, n]) => mem.nodeBuffer.has(n.id)).map(([k, n]) => [k, slot(n.id)]));
  return {
    kernels,
    buffers: mem.buffers,
    params: byName(g.params()),
    inputs: byName(g.inputs()),
    outputs: Object.fromEntries([...g.outputs].map(([k, id]) => [k, slot(id)])),
    constants: g.nodes
      .filter((n) => n.op === 'const' && mem.nodeBuffer.has(n.id))
      .map((n) => ({ buffer: mem.nodeBuffer.get(n.id)!, value: attrsOf(n, 'const').value, dtype: n.dtype })),
    bindings: kernels.map((k) =>
      [...k.reads, k.root, ...(k.siblings ?? [])].flatMap((id) => mem.nodeBindings.get(id)!),
    ),
    stats: {
      nodes: g.nodes.length,
      kernels: kernels.length,
      peakBytes: mem.peakBytes,
      peakBytesNoReuse: mem.peakBytesNoReuse,
      halfActivations: kp.halfActivations,
    },
  };
}

/** A graph's runnable plan: the neutral plan (planKernels), rendered in WGSL (renderPlan). */
export function compilePlan(g: Graph, profile: DeviceProfile, opts: PlanOptions = {}): Plan {
  return renderPlan(planKernels(g, profile, opts), profile, opts);
}
