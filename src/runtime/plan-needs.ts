/**
 * What an artifact's plans need of an adapter, read off the plans themselves: storage and
 * uniform bindings per kernel, the largest bound range and buffer, workgroups per dimension,
 * workgroup sizes and workgroup memory (from each kernel's WGSL), the alignment every bound
 * offset has, and shader-f16. An artifact is checked against the adapter it loads on by these needs, not by the
 * limits of the device it was compiled on: a plan made on lavapipe runs on any adapter whose
 * limits cover what it uses (a browser's SwiftShader included; docs/artifacts.md).
 */

/** The parts of a plan the needs are read from (plan.json's, with each kernel's WGSL). */
export interface PlanShape {
  kernels: { workgroups: number[]; wgsl: string }[];
  buffers: { bytes: number; view?: { of: number; offset: number } }[];
  bindings: number[][];
}

export interface PlanNeeds {
  /** Maximum-type limits (GPUSupportedLimits names): the adapter's must be at least these. */
  limits: Record<string, number>;
  /** Every bound offset is a multiple of this: the adapter's minStorageBufferOffsetAlignment must divide it. */
  offsetAlignment: number;
  features: string[];
}

/** The largest power of two dividing n (n = 0: none limits it). */
const alignmentOf = (n: number) => (n === 0 ? Number.POSITIVE_INFINITY : n & -n);

const SCALAR_BYTES: Record<string, number> = { f32: 4, i32: 4, u32: 4, f16: 2 };

/** Bytes of a kernel's workgroup memory: its `var<workgroup> x: array<T, N>` (T a scalar or vecK of one). */
export function workgroupBytes(wgsl: string): number {
  const sized = [
    ...wgsl.matchAll(/var<workgroup>\s*\w+\s*:\s*array<\s*(?:vec([234])<\s*(\w+)\s*>|(\w+))\s*,\s*(\d+)u?\s*>\s*;/g),
  ];
  // Anything declared otherwise (a named size, a struct, a nested array) would go uncounted: refuse it.
  if (sized.length !== (wgsl.match(/var<workgroup>/g) ?? []).length)
    throw new Error('plan-needs: a workgroup variable that is not an array of scalars or vectors of a literal size');
  let bytes = 0;
  for (const m of sized) {
    const lanes = m[1] ? Number(m[1] === '3' ? 4 : m[1]) : 1;
    const scalar = SCALAR_BYTES[m[2] ?? m[3]];
    if (!scalar)
      throw new Error(`plan-needs: workgroup array of ${m[2] ?? m[3]} (a kernel type this check does not size)`);
    bytes += lanes * scalar * Number(m[4]);
  }
  return bytes;
}

export function planNeeds(plans: PlanShape[]): PlanNeeds {
  const need: Record<string, number> = {
    maxStorageBuffersPerShaderStage: 0,
    maxUniformBuffersPerShaderStage: 0,
    maxBindingsPerBindGroup: 0,
    maxStorageBufferBindingSize: 0,
    maxBufferSize: 0,
    maxComputeWorkgroupsPerDimension: 0,
    maxComputeInvocationsPerWorkgroup: 0,
    maxComputeWorkgroupSizeX: 0,
    maxComputeWorkgroupSizeY: 0,
    maxComputeWorkgroupSizeZ: 0,
    maxComputeWorkgroupStorageSize: 0,
  };
  const up = (k: string, v: number) => {
    need[k] = Math.max(need[k], v);
  };
  let offsetAlignment = Number.POSITIVE_INFINITY;
  const features = new Set<string>();
  for (const p of plans) {
    for (const b of p.buffers) {
      if (!b.view) up('maxBufferSize', b.bytes);
      else offsetAlignment = Math.min(offsetAlignment, alignmentOf(b.view.offset));
    }
    p.kernels.forEach((k, i) => {
      const storage = p.bindings[i]?.length ?? 0;
      const uniforms = (k.wgsl.match(/var<uniform>/g) ?? []).length;
      up('maxStorageBuffersPerShaderStage', storage);
      up('maxUniformBuffersPerShaderStage', uniforms);
      up('maxBindingsPerBindGroup', storage + uniforms);
      for (const id of p.bindings[i] ?? []) up('maxStorageBufferBindingSize', p.buffers[id]?.bytes ?? 0);
      for (const w of k.workgroups) up('maxComputeWorkgroupsPerDimension', w);
      const size = /@workgroup_size\(\s*([^)]*)\)/.exec(k.wgsl);
      if (size) {
        const [x = 1, y = 1, z = 1] = size[1].split(',').map((s) => Number(s.trim()));
        up('maxComputeWorkgroupSizeX', x);
        up('maxComputeWorkgroupSizeY', y);
        up('maxComputeWorkgroupSizeZ', z);
        up('maxComputeInvocationsPerWorkgroup', x * y * z);
      }
      up('maxComputeWorkgroupStorageSize', workgroupBytes(k.wgsl));
      if (/^\s*enable f16;/m.test(k.wgsl)) features.add('shader-f16');
    });
  }
  return { limits: need, offsetAlignment, features: [...features] };
}

/** What `needs` asks that an adapter with `limits` and `features` lacks, one line each (empty: it fits). */
export function unmetNeeds(
  needs: PlanNeeds,
  limits: Readonly<Record<string, number>>,
  features: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(needs.limits)) {
    const have = limits[k];
    if (have !== undefined && v > have) out.push(`${k}: the plans need ${v}, the adapter has ${have}`);
  }
  const align = limits.minStorageBufferOffsetAlignment;
  if (align !== undefined && Number.isFinite(needs.offsetAlignment) && needs.offsetAlignment % align !== 0)
    out.push(
      `minStorageBufferOffsetAlignment: the plans bind views at multiples of ${needs.offsetAlignment} bytes, the adapter needs multiples of ${align}`,
    );
  for (const f of needs.features) if (!features.has(f)) out.push(`${f}: the plans need it, the adapter lacks it`);
  return out;
}
