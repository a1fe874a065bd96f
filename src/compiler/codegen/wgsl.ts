/** Small WGSL helpers shared by the kernel generators: literals, types, bindings, dispatch grids. */
import type { Storage } from '../ir/storage.ts';
export type { Storage } from '../ir/storage.ts';
import type { DType } from '../ir/graph.ts';

/** WGSL scalar type a value of `dtype` is computed in (f16 storage computes in f32). */
export function computeType(d: DType): string {
  return d === 'i32' ? 'i32' : d === 'u32' ? 'u32' : 'f32';
}

export function literal(x: number, d: DType): string {
  if (d === 'i32') return `${Math.trunc(x)}i`;
  if (d === 'u32') return `${Math.trunc(x) >>> 0}u`;
  // WGSL constant expressions cannot be infinite: the extremes are the largest finite f32.
  if (Number.isNaN(x)) throw new Error('codegen: a NaN constant cannot be written in WGSL');
  if (Math.abs(x) >= 3.4028234663852886e38) return x > 0 ? '0x1.fffffep+127f' : '-0x1.fffffep+127f';
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return `${x}.0`;
  return `f32(${x.toExponential(9)})`;
}

/**
 * Element type of a buffer: f32, f16 (half storage), i32, u32, or bf16 (frozen weights kept in
 * 16 bits: WGSL has no bf16, so two share a u32 word and loads unpack them, codegen/kernels.ts).
 */

export interface Binding {
  name: string;
  storage: Storage;
  write: boolean;
  /** Declared as an array of 4-vectors of its storage type (every load of it a whole vec4). */
  vec4?: boolean;
}

export function bindingDecls(bs: Binding[]): string {
  const elem = (s: Storage) => (s === 'bf16' ? 'u32' : s);
  return bs
    .map(
      (b, k) =>
        `@group(0) @binding(${k}) var<storage, ${b.write ? 'read_write' : 'read'}> ${b.name}: array<${b.vec4 ? `vec4<${elem(b.storage)}>` : elem(b.storage)}>;`,
    )
    .join('\n');
}

export const WORKGROUP = 64;

/**
 * How a kernel's sizes (extents, strides, offsets, element counts, salts) reach its shader.
 * 'uniform': read from a small uniform buffer bound after `out`, so the WGSL text depends only
 * on the kernel's structure and one compiled shader serves every shape of its kind (llvmpipe
 * compiles each distinct source on first use; bench/results/shaders.md). 'inline': written
 * into the source as literals, so the shader compiler can fold them (one shader per shape).
 */
export type SizeMode = 'uniform' | 'inline';

/** The WGSL name of the sizes uniform. */
const SIZES = 'sz';

/**
 * Collects the sizes one kernel reads, in the order its generator first asks for them. A
 * template's sizes (M, N, K, element counts) get a slot each, so kernels whose sizes happen to
 * coincide still share a shader with those whose sizes differ; index maps ask for shared slots
 * (equal values, one slot), so their expressions stay textually equal and are computed once.
 */
export class Sizes {
  readonly values: number[] = [];
  private readonly shared = new Map<number, string>();
  constructor(readonly mode: SizeMode) {}

  /** A u32 size as a WGSL expression: a literal, or a new slot of this kernel's uniform. */
  u(n: number): string {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`codegen: size ${n} is not a u32`);
    if (this.mode === 'inline') return `${n}u`;
    const k = this.values.length;
    this.values.push(n);
    return `${SIZES}.v[${k >> 2}].${'xyzw'[k & 3]}`;
  }

  /** A size of an index map: the slot of an equal value asked for this way before, if any. */
  index(n: number): string {
    let slot = this.shared.get(n);
    if (slot === undefined) {
      slot = this.u(n);
      this.shared.set(n, slot);
    }
    return slot;
  }

  /** 1 / d as an f32 read from the uniform (its bits in a u32 slot), for divmod_u24. */
  rcp(d: number): string {
    if (this.mode === 'inline') throw new Error('codegen: reciprocal sizes are for uniform sizes only');
    const bits = new Uint32Array(new Float32Array([1 / d]).buffer)[0];
    return `bitcast<f32>(${this.index(bits)})`;
  }

  /** The uniform's declaration at `binding` ('' when the kernel reads no sizes). */
  decl(binding: number): string {
    if (this.values.length === 0) return '';
    return `struct Sizes { v: array<vec4<u32>, ${Math.ceil(this.values.length / 4)}> }\n@group(0) @binding(${binding}) var<uniform> ${SIZES}: Sizes;`;
  }
}

/** 1-D thread grid of `n` threads folded into 2-D when it exceeds the per-dimension limit. */
export function grid(
  n: number,
  maxPerDim: number,
  wg = WORKGROUP,
): { workgroups: [number, number, number]; row: number } {
  const groups = Math.max(1, Math.ceil(n / wg));
  if (groups <= maxPerDim) return { workgroups: [groups, 1, 1], row: groups * wg };
  const x = maxPerDim;
  const y = Math.ceil(groups / x);
  if (y > maxPerDim) throw new Error(`a kernel over ${n} elements needs more than ${maxPerDim}^2 workgroups`);
  return { workgroups: [x, y, 1], row: x * wg };
}
