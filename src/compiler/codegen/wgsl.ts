/** Small WGSL helpers shared by the kernel generators: literals, types, bindings, dispatch grids. */
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

/** Element type of a buffer in WGSL: f32, f16 (half storage), i32 or u32. */
export type Storage = 'f32' | 'f16' | 'i32' | 'u32';

export interface Binding {
  name: string;
  storage: Storage;
  write: boolean;
}

export function bindingDecls(bs: Binding[]): string {
  return bs.map((b, k) => `@group(0) @binding(${k}) var<storage, ${b.write ? 'read_write' : 'read'}> ${b.name}: array<${b.storage}>;`).join('\n');
}

export const WORKGROUP = 64;

/** 1-D thread grid of `n` threads folded into 2-D when it exceeds the per-dimension limit. */
export function grid(n: number, maxPerDim: number, wg = WORKGROUP): { workgroups: [number, number, number]; row: number } {
  const groups = Math.max(1, Math.ceil(n / wg));
  if (groups <= maxPerDim) return { workgroups: [groups, 1, 1], row: groups * wg };
  const x = maxPerDim;
  const y = Math.ceil(groups / x);
  if (y > maxPerDim) throw new Error(`a kernel over ${n} elements needs more than ${maxPerDim}^2 workgroups`);
  return { workgroups: [x, y, 1], row: x * wg };
}
