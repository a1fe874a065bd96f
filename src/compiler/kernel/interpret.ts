/**
 * A CPU interpreter of kernel descriptions (kernel/ir.ts): runs a plan's kernels in f32 (each
 * value rounded as a GPU rounds it) over buffers keyed by graph node. It checks the lowering
 * apart from any shader compiler: index maps against the Float64 reference, divisions against
 * the bounds they promise (divmod_u24 is exact only below 2^24), loads against their buffers'
 * lengths. Slow by design (one expression walk per element); for tests and small graphs.
 */
import { numel, type Graph, type Node } from '../ir/graph.ts';
import { Value } from '../ir/value.ts';
import { attrsOf, leafName } from '../ir/attrs.ts';
import { getOp } from '../ops/index.ts';
import { uniformAt } from '../ops/random.ts';
import type { Feeds } from '../reference.ts';
import type { KExpr, KExprOf, Kernel, KOp, KVar, Reduce } from './ir.ts';

export type KBuffer = Float32Array | Int32Array | Uint32Array;
type Env = Partial<Record<KVar, number>>;

const f32 = Math.fround;

/** Truncation of an f32 to an i32, saturating (WGSL's conversion). */
const toI32 = (x: number) => (Number.isNaN(x) ? 0 : Math.max(-2147483648, Math.min(2147483647, Math.trunc(x))));

class Evaluator {
  private cache = new Map<number, number>();
  constructor(
    private readonly buffers: (id: number) => KBuffer,
    private env: Env,
  ) {}

  /** Evaluates at another point of the index space (values of one point are cached). */
  at(env: Env): this {
    this.env = env;
    this.cache = new Map();
    return this;
  }

  eval(e: KExpr): number {
    let v = this.cache.get(e.id);
    if (v === undefined) {
      v = this.compute(e);
      this.cache.set(e.id, v);
    }
    return v;
  }

  private compute(e: KExpr): number {
    const rule = EVAL[e.op] as (e: KExpr, a: number[], ctx: EvalContext) => number;
    return rule(
      e,
      e.args.map((x) => this.eval(x)),
      { env: this.env, buffers: this.buffers },
    );
  }
}

interface EvalContext {
  env: Env;
  buffers: (id: number) => KBuffer;
}

/** Each expression op's value from its evaluated operands `a`, as a GPU computes it: one rule per op, kept complete by tsc. */
const EVAL: { [O in KOp]: (e: KExprOf<O>, a: number[], ctx: EvalContext) => number } = {
  var: (e, _a, { env }) => {
    const v = env[e.name];
    if (v === undefined) throw new Error(`kernel interpreter: variable ${e.name} is not defined here`);
    return v;
  },
  size: (e) => e.n,
  const: (e) => (e.dtype === 'i32' ? toI32(e.value) : e.dtype === 'u32' ? e.value >>> 0 : f32(e.value)),
  add: (_e, a) => a.reduce((s, x) => s + x, 0),
  mul: (_e, a) => a[0] * a[1],
  div: (e, a) => Math.floor(bounded(e, a[0]) / e.d),
  mod: (e, a) => bounded(e, a[0]) % e.d,
  clampSub: (e, a) => Math.min(Math.max(a[0], e.lo) - e.lo, e.n - 1),
  inRange: (e, a) => Number(a[0] >= e.lo && a[0] < e.lo + e.n),
  below: (e, a) => Number(a[0] < e.n),
  and: (_e, a) => Number(a.every(Boolean)),
  rowOf: (e, a) => Math.min(Math.max(toI32(a[0]), 0), e.rows - 1),
  load: (e, a, { buffers }) => {
    const buf = buffers(e.buf);
    if (!(a[0] >= 0 && a[0] < buf.length))
      throw new Error(`kernel interpreter: load of %${e.buf}[${a[0]}] outside its ${buf.length} elements`);
    return buf[a[0]];
  },
  math: (e, a) =>
    f32(
      getOp(e.name).ref(
        a.map((x) => Value.of([], [x], 'f32')),
        e.attrs,
        { shape: [], dtype: 'f32' },
      ).data[0],
    ),
  cast: (e, a) =>
    e.dtype === 'i32' ? toI32(a[0]) : e.dtype === 'u32' ? Math.max(0, Math.trunc(a[0])) >>> 0 : f32(a[0]),
  select: (_e, a) => (a[0] ? a[1] : a[2]),
  uniform: (e, a) => uniformAt(a[0], e.salt, a[1]),
  randint: (e, a) => Math.min(Math.floor(a[0] * e.high), e.high - 1),
};

/** A division's dividend, checked against the bound its lowering promised (divmod_u24 is exact only below it). */
function bounded(e: KExprOf<'div' | 'mod'>, x: number): number {
  if (!(x < e.bound))
    throw new Error(`kernel interpreter: ${x} / ${e.d} breaks the bound ${e.bound} its lowering promised`);
  return x;
}

const combine = (r: Reduce, acc: number, v: number) => (r.combine === 'max' ? Math.max(acc, v) : f32(acc + v));

/** Runs one kernel: reads `buffers(id)` for the nodes it loads, writes `out` (and a map's siblings' buffers). */
export function runKernel(k: Kernel, buffers: (id: number) => KBuffer, out: KBuffer): void {
  const ev = new Evaluator(buffers, {});
  switch (k.kind) {
    case 'map': {
      const more = k.siblings.map((s) => ({ value: s.value, buf: buffers(s.out) }));
      for (let i = 0; i < k.n; i++) {
        out[i] = ev.at({ i }).eval(k.value);
        for (const s of more) s.buf[i] = ev.eval(s.value);
      }
      return;
    }
    case 'reduce':
      for (let o = 0; o < k.n; o++) {
        let acc = k.reduce.identity;
        for (let r = 0; r < k.R; r++) acc = combine(k.reduce, acc, ev.at({ o, r }).eval(k.value));
        out[o] = acc;
      }
      return;
    case 'row':
      for (let row = 0; row < k.rows; row++) {
        const env: Env = { row };
        k.reductions.forEach((red, m) => {
          let acc = red.reduce.identity;
          for (let j = 0; j < k.C; j++) acc = combine(red.reduce, acc, ev.at({ ...env, j }).eval(red.value));
          env[`acc${m}`] = acc;
        });
        for (let j = 0; j < k.C; j++) out[row * k.C + j] = ev.at({ ...env, j }).eval(k.value);
      }
      return;
    case 'scatter': {
      const idx = buffers(k.indices);
      for (let o = 0; o < k.n; o++) {
        const r = Math.floor(o / k.rowLen);
        let acc = 0;
        for (let m = 0; m < k.nIdx; m++)
          if (toI32(idx[m]) === r) acc = f32(acc + ev.at({ i: m * k.rowLen + (o % k.rowLen) }).eval(k.value));
        out[o] = acc;
      }
      return;
    }
    case 'matmul': {
      const { M, N, K } = k;
      const A = buffers(k.a.buf);
      const B = buffers(k.b.buf);
      const nb = numel(k.batch);
      for (let p = 0; p < nb; p++) {
        const aOff = ev.at({ p }).eval(k.a.batch) * M * K;
        const bOff = ev.eval(k.b.batch) * K * N;
        for (let r = 0; r < M; r++)
          for (let c = 0; c < N; c++) {
            let acc = 0;
            // An f32 product is exact in a double: one rounding per step, as fma rounds.
            for (let q = 0; q < K; q++)
              acc = f32(
                A[aOff + (k.a.trans ? q * M + r : r * K + q)] * B[bOff + (k.b.trans ? c * K + q : q * N + c)] + acc,
              );
            const o = (p * M + r) * N + c;
            out[o] = k.epilogue ? ev.at({ acc, o, p, r, c, pr: p * M + r, rc: r * N + c }).eval(k.epilogue) : acc;
          }
      }
      return;
    }
  }
}

/** The buffer type a node of this dtype is stored in. */
function bufferFor(n: Node, data?: ArrayLike<number>): KBuffer {
  const len = numel(n.shape);
  const b = n.dtype === 'i32' ? new Int32Array(len) : n.dtype === 'u32' ? new Uint32Array(len) : new Float32Array(len);
  if (data) b.set(data);
  return b;
}

/**
 * Runs a plan's kernels (each must carry its description) on the CPU, from the fed inputs and
 * params, and returns every graph output.
 */
export function interpretPlan(g: Graph, kernels: { ir?: Kernel }[], feeds: Feeds): Record<string, KBuffer> {
  const bufs = new Map<number, KBuffer>();
  const buffer = (id: number): KBuffer => {
    const hit = bufs.get(id);
    if (hit) return hit;
    const n = g.get(id);
    let b: KBuffer;
    if (n.op === 'input' || n.op === 'param') {
      const v = (n.op === 'input' ? feeds.inputs : feeds.params)?.[leafName(n)];
      if (!v) throw new Error(`kernel interpreter: no value fed for ${n.op} '${leafName(n)}'`);
      b = bufferFor(n, v.data);
    } else if (n.op === 'const') b = bufferFor(n, Value.of(n.shape, attrsOf(n, 'const').value, n.dtype).data);
    else if (n.op === 'reshape') b = buffer(n.inputs[0]);
    // A pack written in place (passes/fuse.ts) has no kernel: it is its parts, concatenated.
    else if (n.op === 'concat' || n.op === 'pad')
      b = bufferFor(
        n,
        getOp(n.op).ref(
          n.inputs.map((i) => Value.of(g.get(i).shape, [...buffer(i)], g.get(i).dtype)),
          n.attrs,
          n,
        ).data,
      );
    else throw new Error(`kernel interpreter: %${id} (${n.op}) is read before a kernel wrote it`);
    bufs.set(id, b);
    return b;
  };
  for (const spec of kernels) {
    const k = spec.ir;
    if (!k) throw new Error('kernel interpreter: a kernel without its description (a loaded artifact?)');
    if (k.kind === 'map') for (const s of k.siblings) bufs.set(s.out, bufferFor(g.get(s.out)));
    const out = bufferFor(g.get(k.out));
    runKernel(k, buffer, out);
    bufs.set(k.out, out);
  }
  return Object.fromEntries([...g.outputs].map(([name, id]) => [name, buffer(id)]));
}
