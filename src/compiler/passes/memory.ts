/**
 * Memory planning: every materialized node gets a logical buffer; temporaries share physical
 * buffers when their lifetimes (first write .. last read, in kernel order) do not overlap.
 * Params, inputs, constants and graph outputs keep their own buffers. A pack (passes/fuse.ts,
 * packParts) gets one buffer, never shared (its pads must stay zero), and each of its parts is a
 * view of it: a binding at the part's offset. A node larger than the binding limit keeps one
 * buffer and is bound as ranges of it (passes/split-bindings.ts): `nodeBindings` lists, per
 * node, the plan buffers (whole, or views) a kernel binds for it, in order.
 */
import { UserError } from '../../user-error.ts';
import { numel, shapeStr, type Graph } from '../ir/graph.ts';
import { storageElementBytes, type Storage } from '../ir/storage.ts';
import { leafName } from '../ir/attrs.ts';
import type { PackParts } from './fuse.ts';
import { chunkRanges } from './split-bindings.ts';

/** 'pack': a pack of temporaries (the gradients), or a temporary part of one; never shared. */
export type BufferRole = 'param' | 'input' | 'const' | 'output' | 'temp' | 'pack';

export interface PhysicalBuffer {
  id: number;
  bytes: number;
  role: BufferRole;
  /** Param/input/output name, or the nodes that share a temp buffer. */
  label: string;
  /** A part of a pack: bytes at `offset` of buffer `of` (which is no view), bound there. */
  view?: { of: number; offset: number };
}

export interface MemoryPlan {
  buffers: PhysicalBuffer[];
  /** Materialized node id -> physical buffer id. */
  nodeBuffer: Map<number, number>;
  /** Materialized node id -> the plan buffers a kernel binds for it: [its buffer], or ranges of it over the binding limit. */
  nodeBindings: Map<number, number[]>;
  peakBytesNoReuse: number;
  peakBytes: number;
}

export interface MemoryLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/** Bytes a node's buffer holds in `storage`: a multiple of 4 (a half buffer of odd length rounds up), at least 4. */
export function storageBytes(elements: number, storage: Storage): number {
  return Math.max(4, Math.ceil((elements * storageElementBytes(storage)) / 4) * 4);
}

/** A tensor the adapter cannot hold: refused at compile time, never at run time. */
export class PlanLimitError extends UserError {
  override name = 'PlanLimitError';
}

/** What the memory plan needs of a kernel, in dispatch order: what it writes and what it reads. */
export interface KernelUse {
  root: number;
  siblings?: number[];
  reads: number[];
}

export function planMemory(
  g: Graph,
  kernels: readonly KernelUse[],
  alias: Map<number, number>,
  materialized: Set<number>,
  limits: MemoryLimits,
  storage: (id: number) => Storage,
  reuse = true,
  parts: PackParts = new Map(),
): MemoryPlan {
  const outputs = new Map<number, string>();
  for (const [name, id] of g.outputs) outputs.set(alias.get(id) ?? id, outputs.get(id) ?? name);
  const bytesOf = (id: number) => {
    const n = g.get(id);
    const bytes = storageBytes(numel(n.shape), storage(id));
    // Over the binding limit a tensor is bound in ranges; one buffer must still hold it whole.
    if (bytes > limits.maxBufferSize) {
      const what =
        n.op === 'param' || n.op === 'input'
          ? `${n.op} '${leafName(n)}'`
          : `${n.op} %${n.id}${n.scope ? ` in '${n.scope}'` : ''}`;
      const fix =
        n.op === 'param'
          ? 'this weight cannot be held in one buffer on this adapter'
          : 'reduce the batch or sequence length';
      throw new PlanLimitError(
        `memory: ${what} ${n.dtype}${shapeStr(n.shape)} needs ${bytes} bytes, over the device's buffer size limit (maxBufferSize) of ${limits.maxBufferSize} bytes; ${fix}`,
      );
    }
    return bytes;
  };

  // Lifetimes of logical buffers (alias roots), in kernel order.
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  kernels.forEach((k, t) => {
    for (const out of [k.root, ...(k.siblings ?? [])]) {
      const w = alias.get(out) ?? out;
      if (!first.has(w)) first.set(w, t);
      last.set(w, Math.max(last.get(w) ?? t, t));
    }
    for (const r of k.reads) {
      const id = alias.get(r) ?? r;
      last.set(id, Math.max(last.get(id) ?? t, t));
    }
  });

  const buffers: PhysicalBuffer[] = [];
  const nodeBuffer = new Map<number, number>();
  const roleOf = (id: number): BufferRole => {
    const n = g.get(id);
    if (n.op === 'param') return 'param';
    if (n.op === 'input') return 'input';
    if (n.op === 'const') return 'const';
    return outputs.has(id) ? 'output' : 'temp';
  };
  const labelOf = (id: number, role: BufferRole) =>
    role === 'output'
      ? outputs.get(id)!
      : role === 'const'
        ? `const %${id}`
        : role === 'temp'
          ? `%${id}`
          : leafName(g.get(id));
  let noReuse = 0;
  const logical = [...materialized].filter((id) => !alias.has(id)).sort((a, b) => a - b);
  const packs = new Map<number, number[]>(); // pack -> its parts
  for (const [id, { pack }] of parts) packs.set(pack, [...(packs.get(pack) ?? []), id]);
  const tempToPack = (r: BufferRole): BufferRole => (r === 'temp' ? 'pack' : r);
  for (const [pack, members] of packs) {
    const roles = new Set(members.map(roleOf));
    const role = roleOf(pack) === 'output' ? 'output' : roles.size === 1 ? tempToPack([...roles][0]) : 'pack';
    const buf =
      buffers.push({
        id: buffers.length,
        bytes: bytesOf(pack),
        role,
        label: `pack of ${members.length}: ${members.map((m) => labelOf(m, roleOf(m))).join(',')}`.slice(0, 200),
      }) - 1;
    nodeBuffer.set(pack, buf);
    noReuse += bytesOf(pack);
    for (const m of members) {
      if (storage(m) !== 'f32') throw new Error(`memory: packed part %${m} is stored as ${storage(m)}, not f32`);
      nodeBuffer.set(
        m,
        buffers.push({
          id: buffers.length,
          bytes: bytesOf(m),
          role: tempToPack(roleOf(m)),
          label: labelOf(m, roleOf(m)),
          view: { of: buf, offset: parts.get(m)!.offset * 4 },
        }) - 1,
      );
    }
  }
  for (const id of logical) {
    if (nodeBuffer.has(id)) continue;
    noReuse += bytesOf(id);
    const role = roleOf(id);
    if (role !== 'temp') {
      nodeBuffer.set(id, buffers.push({ id: buffers.length, bytes: bytesOf(id), role, label: labelOf(id, role) }) - 1);
    }
  }

  // Temps: greedy interval assignment in order of first write; best-fit among free buffers.
  const temps = logical
    .filter((id) => roleOf(id) === 'temp' && first.has(id) && !nodeBuffer.has(id))
    .sort((a, b) => first.get(a)! - first.get(b)!);
  const busyUntil = new Map<number, number>(); // physical id -> last kernel that reads it
  for (const id of temps) {
    const need = bytesOf(id);
    const start = first.get(id)!;
    let pick: PhysicalBuffer | undefined;
    if (reuse) {
      for (const b of buffers) {
        if (b.role !== 'temp' || b.bytes < need || busyUntil.get(b.id)! >= start) continue;
        if (!pick || b.bytes < pick.bytes) pick = b;
      }
    }
    if (!pick) pick = buffers[buffers.push({ id: buffers.length, bytes: need, role: 'temp', label: '' }) - 1];
    pick.label += `${pick.label ? ',' : ''}%${id}`;
    busyUntil.set(pick.id, last.get(id)!);
    nodeBuffer.set(id, pick.id);
  }
  for (const [n, target] of alias) nodeBuffer.set(n, nodeBuffer.get(target)!);

  // Bindings: a node's buffer whole when that fits one binding; else ranges of the node's own
  // bytes (a small temp in a shared buffer over the limit is bound at its size, one range).
  const nodeBindings = new Map<number, number[]>();
  const views = new Map<string, number>();
  for (const [id, buf] of nodeBuffer) {
    const b = buffers[buf];
    if (b.bytes <= limits.maxStorageBufferBindingSize) {
      nodeBindings.set(id, [buf]);
      continue;
    }
    const root = b.view?.of ?? buf;
    const base = b.view?.offset ?? 0;
    const ranges = chunkRanges(bytesOf(alias.get(id) ?? id), limits.maxStorageBufferBindingSize);
    nodeBindings.set(
      id,
      ranges.map((r, k) => {
        const key = `${root}:${base + r.offset}:${r.bytes}`;
        let v = views.get(key);
        if (v === undefined) {
          v =
            buffers.push({
              id: buffers.length,
              bytes: r.bytes,
              role: b.role,
              label: `${b.label.slice(0, 150)} [range ${k}]`,
              view: { of: root, offset: base + r.offset },
            }) - 1;
          views.set(key, v);
        }
        return v;
      }),
    );
  }
  return {
    buffers,
    nodeBuffer,
    nodeBindings,
    peakBytesNoReuse: noReuse,
    peakBytes: buffers.reduce((s, b) => s + (b.view ? 0 : b.bytes), 0),
  };
}
