/** Parameter initialization from each param's InitSpec, deterministic for a seed. */
import type { Graph, InitSpec, ParamInfo } from '../compiler/ir/graph.ts';

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string: a per-param stream, so adding a param does not reshuffle the others. */
function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function initValues(init: InitSpec, n: number, rand: () => number): Float32Array {
  if (init.kind === 'copies') {
    const one = initValues(init.each, n / init.copies, rand);
    const out = new Float32Array(n);
    for (let c = 0; c < init.copies; c++) out.set(one, c * one.length);
    return out;
  }
  const out = new Float32Array(n);
  const uniform = (bound: number) => {
    for (let i = 0; i < n; i++) out[i] = (2 * rand() - 1) * bound;
  };
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'uniform':
      uniform(init.bound);
      break;
    case 'xavier':
      uniform(init.gain * Math.sqrt(6 / (init.fanIn + init.fanOut)));
      break;
    case 'kaiming':
      uniform(1 / Math.sqrt(init.fanIn));
      break;
    case 'normal':
      for (let i = 0; i < n; i++) {
        const u = Math.max(rand(), 1e-12);
        out[i] = init.std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
      }
      break;
  }
  return out;
}

export interface ParamDecl {
  name: string;
  shape: readonly number[];
  init: InitSpec;
}

/** Initial values for each declared param; each param has its own stream keyed by its name. */
export function initParamList(list: ParamDecl[], seed: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const p of list)
    out[p.name] = initValues(
      p.init,
      p.shape.reduce((a, b) => a * b, 1),
      prng((seed ^ hashName(p.name)) >>> 0),
    );
  return out;
}

/** Initial values for `g`'s params, except those named in `skip` (e.g. imported pretrained weights). */
export function initParams(g: Graph, seed: number, skip: ReadonlySet<string> = new Set()): Record<string, Float32Array> {
  const list = [...g.params()].filter(([name]) => !skip.has(name));
  return initParamList(
    list.map(([name, n]) => ({ name, shape: n.shape, init: (n.attrs.info as ParamInfo).init })),
    seed,
  );
}
