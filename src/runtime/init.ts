/**
 * A model's initial weights: pretrained (or other given) values where there are some, each other
 * param from its InitSpec (deterministic for a seed, one stream per param name), and derived
 * params from the values of the params they are derived from. `initialWeights` is the one way
 * training, evaluation, adapters, export and the benches start a model.
 */
import type { DerivedRule, Graph, InitSpec, ParamInfo } from '../compiler/ir/graph.ts';
import { valuesOf, weightLength, type WeightMap } from './half.ts';

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
  if (init.kind === 'derived')
    throw new Error(
      `initValues: a derived initializer ('${init.rule}' of '${init.from}') needs the values it derives from (initialValues)`,
    );
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

/**
 * Derived initializers, by rule: the param's values from its source param's values and shape.
 * Each checks the shapes it is given, so a method declaring one wrongly fails at init, by name.
 */
const DERIVED: Record<
  DerivedRule,
  (src: ArrayLike<number>, srcShape: readonly number[], shape: readonly number[]) => Float32Array
> = {
  /** L2 norm of each column of a [..., rows, cols] weight over its rows (our W is [in, out]: one norm per output). */
  columnNorm(src, srcShape, shape) {
    const cols = srcShape.at(-1)!;
    const rows = srcShape.at(-2) ?? 1;
    const lead = src.length / (rows * cols);
    const out = new Float32Array(lead * cols);
    if (out.length !== size(shape))
      throw new Error(`columnNorm: a [${srcShape}] weight has ${out.length} column norms, the param is [${shape}]`);
    for (let l = 0; l < lead; l++)
      for (let j = 0; j < cols; j++) {
        let acc = 0;
        for (let i = 0; i < rows; i++) acc += src[(l * rows + i) * cols + j] ** 2;
        out[l * cols + j] = Math.sqrt(acc);
      }
    return out;
  },
};

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export interface ParamDecl {
  name: string;
  shape: readonly number[];
  init: InitSpec;
}

/** The stream of one param: seeded by the run's seed and the param's name. */
const streamOf = (seed: number, name: string) => prng((seed ^ hashName(name)) >>> 0);

/**
 * Initial values of `list`: `sources` where they name a param (kept as given, 16-bit included),
 * the param's initializer otherwise, derived params last, from the values of what they derive
 * from (sources included). Sources naming no param of the list are kept too. A derived param
 * whose source is not among the params or sources is an error naming both.
 */
export function initialValues(
  list: ParamDecl[],
  seed: number,
  sources?: Record<string, Float32Array>,
): Record<string, Float32Array>;
export function initialValues(list: ParamDecl[], seed: number, sources: WeightMap): WeightMap;
export function initialValues(list: ParamDecl[], seed: number, sources: WeightMap = {}): WeightMap {
  const out: WeightMap = {};
  const derived: ParamDecl[] = [];
  for (const p of list) {
    if (p.name in sources) continue;
    if (p.init.kind === 'derived') derived.push(p);
    else out[p.name] = initValues(p.init, size(p.shape), streamOf(seed, p.name));
  }
  Object.assign(out, sources);
  const shapes = new Map(list.map((p) => [p.name, p.shape]));
  // Derived params may derive from derived ones: resolve in rounds until none is left.
  while (derived.length) {
    const ready = derived.filter((p) => (p.init as { from: string }).from in out);
    if (!ready.length) {
      const p = derived[0];
      const from = (p.init as { from: string }).from;
      throw new Error(
        `param '${p.name}' is derived from '${from}', which ${shapes.has(from) ? 'is itself derived in a cycle' : 'is no param of this model and not among the given weights'}`,
      );
    }
    for (const p of ready) {
      const init = p.init as Extract<InitSpec, { kind: 'derived' }>;
      const src = out[init.from];
      const srcShape = shapes.get(init.from) ?? [weightLength(src)];
      out[p.name] = DERIVED[init.rule](valuesOf(src), srcShape, p.shape);
      derived.splice(derived.indexOf(p), 1);
    }
  }
  return out;
}

/** Initial weights of `g`'s params (see initialValues), with `sources` (pretrained towers, a checkpoint) where they have them. */
export function initialWeights(
  g: Graph,
  seed: number,
  sources?: Record<string, Float32Array>,
): Record<string, Float32Array>;
export function initialWeights(g: Graph, seed: number, sources: WeightMap): WeightMap;
export function initialWeights(g: Graph, seed: number, sources: WeightMap = {}): WeightMap {
  return initialValues(
    [...g.params()].map(([name, n]) => ({ name, shape: n.shape, init: (n.attrs.info as ParamInfo).init })),
    seed,
    sources,
  );
}
