/**
 * Matmul autotuner: for each shape class of a graph's matmuls, time the candidate kernel
 * variants on the device and keep the fastest. Results are cached on disk, keyed by adapter
 * and shape class, so a model pays for tuning once per machine. A GPU and lavapipe pick very
 * different kernels (lavapipe: barrier-free register blocks; GPUs: shared-memory tiles).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Builder } from '../compiler/builder.ts';
import type { Graph, Node } from '../compiler/ir/graph.ts';
import type { MatmulVariant } from '../compiler/codegen/kernels.ts';
import { matmulDims } from '../compiler/ops/matmul.ts';
import { compilePlan, type DeviceProfile, type PlanOptions } from '../compiler/plan.ts';
import type { Gpu } from '../runtime/device.ts';
import { Executor } from '../runtime/executor.ts';
import { timePlan } from '../runtime/timing.ts';
import { attrsOf } from '../compiler/ir/attrs.ts';

export const CANDIDATES: MatmulVariant[] = [
  { family: 'reg', tm: 4, tn: 4, wgx: 8, wgy: 8 },
  { family: 'reg', tm: 8, tn: 4, wgx: 8, wgy: 8 },
  { family: 'reg', tm: 8, tn: 8, wgx: 8, wgy: 8 },
  { family: 'reg', tm: 2, tn: 2, wgx: 8, wgy: 8 },
  { family: 'reg4', tm: 8, tn4: 2, wgx: 8, wgy: 8 },
  { family: 'tiled' },
];

const pow2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

/** Shapes within a factor of two (and with the same flags) share a kernel choice. */
export function shapeClass(
  n: Node,
  g: Graph,
): { key: string; M: number; K: number; N: number; batch: number; transA: boolean; transB: boolean } {
  const [A, B] = n.inputs.map((i) => g.get(i));
  const { transA, transB } = attrsOf(n, 'matmul');
  const { M, K, N, batch } = matmulDims(A.shape, B.shape, { transA, transB }, 'matmul');
  const nb = batch.reduce((p, q) => p * q, 1);
  const [m, k, nn, b] = [pow2(M), pow2(K), pow2(N), pow2(nb)];
  return {
    key: `${m}x${k}x${nn}b${b}${transA ? 'tA' : ''}${transB ? 'tB' : ''}`,
    M: m,
    K: k,
    N: nn,
    batch: b,
    transA,
    transB,
  };
}

export function cachePath(): string {
  return process.env.PEFTGRAPH_CACHE_DIR
    ? join(process.env.PEFTGRAPH_CACHE_DIR, 'autotune.json')
    : join(process.cwd(), '.peftgraph-cache', 'autotune.json');
}

type CacheFile = Record<string, Record<string, { variant: MatmulVariant; ms: number }>>;

function readCache(path: string): CacheFile {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
  } catch {
    return {};
  }
}

function writeCache(path: string, c: CacheFile): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(c, null, 1));
  renameSync(tmp, path); // atomic: a concurrent reader sees the old or the new file, never half
}

export interface TuneResult {
  choice: Map<number, MatmulVariant>;
  tuned: number;
  cached: number;
}

/** The cache's key for an adapter: tuned choices hold for that adapter only. */
const adapterKey = (gpu: Gpu) => `${gpu.info.vendor}|${gpu.info.device}|${gpu.info.description}`;

/** A plan's matmul choice from the cache: the tuned variant of each node's shape class, if tuned. */
export type VariantLookup = NonNullable<PlanOptions['matmulVariant']>;

/**
 * The cached choices for this adapter, looked up by shape class (classes not in the cache get
 * the profile's default); undefined when nothing was tuned on this adapter.
 */
export function cachedVariants(gpu: Gpu, path = cachePath()): { lookup: VariantLookup; classes: number } | undefined {
  const mine = readCache(path)[adapterKey(gpu)];
  const classes = Object.keys(mine ?? {}).length;
  if (!mine || classes === 0) return undefined;
  return { lookup: (n, g) => mine[shapeClass(n, g).key]?.variant, classes };
}

/** Times one candidate on a matmul of the given class; Infinity if it cannot run. */
export async function timeVariant(
  gpu: Gpu,
  profile: DeviceProfile,
  c: ReturnType<typeof shapeClass>,
  v: MatmulVariant,
): Promise<number> {
  const b = new Builder();
  const a = b.input(
    'a',
    c.batch > 1 ? [c.batch, ...(c.transA ? [c.K, c.M] : [c.M, c.K])] : c.transA ? [c.K, c.M] : [c.M, c.K],
  );
  const w = b.input('b', c.transB ? [c.N, c.K] : [c.K, c.N]);
  b.output('y', a.matmul(w, { transA: c.transA, transB: c.transB }));
  const plan = compilePlan(b.g, profile, { matmulVariant: () => v });
  const ex = await Executor.create(gpu, plan);
  try {
    return await timePlan(gpu, ex, 2, 3);
  } finally {
    ex.destroy();
  }
}

/** Chooses a kernel per matmul node of `g`, tuning shape classes missing from the cache. */
export async function autotune(
  gpu: Gpu,
  profile: DeviceProfile,
  g: Graph,
  opts: { candidates?: MatmulVariant[]; path?: string; log?: (s: string) => void } = {},
): Promise<TuneResult> {
  const path = opts.path ?? cachePath();
  const cache = readCache(path);
  const mine = (cache[adapterKey(gpu)] ??= {});
  const choice = new Map<number, MatmulVariant>();
  let tuned = 0;
  let cached = 0;
  for (const n of g.nodes) {
    if (n.op !== 'matmul') continue;
    const c = shapeClass(n, g);
    let hit = mine[c.key];
    if (hit) cached++;
    else {
      let best = { variant: (opts.candidates ?? CANDIDATES)[0], ms: Infinity };
      for (const v of opts.candidates ?? CANDIDATES) {
        const ms = await timeVariant(gpu, profile, c, v);
        opts.log?.(`autotune ${c.key} ${JSON.stringify(v)}: ${ms.toFixed(2)} ms`);
        if (ms < best.ms) best = { variant: v, ms };
      }
      hit = mine[c.key] = best;
      tuned++;
      writeCache(path, cache);
    }
    choice.set(n.id, hit.variant);
  }
  return { choice, tuned, cached };
}

/**
 * The plan options `train` and `compile` use for matmuls on this adapter: with `run`, every
 * matmul shape class of `shapes()` (the graph to be planned) missing from the cache is timed
 * first (autotune); then the cache's choices, by shape class, override the profile's default
 * kernel. `off`, or an empty cache, leaves the defaults.
 */
export async function tunedPlanOptions(
  gpu: Gpu,
  profile: DeviceProfile,
  mode: 'cache' | 'run' | 'off',
  o: { shapes: () => Graph; plan?: PlanOptions; log?: (s: string) => void },
): Promise<{ plan: PlanOptions; tuned: number; classes: number }> {
  const plan = o.plan ?? {};
  if (mode === 'off' || plan.matmulVariant) return { plan, tuned: 0, classes: 0 };
  const tuned = mode === 'run' ? (await autotune(gpu, profile, o.shapes(), { log: o.log })).tuned : 0;
  const cached = cachedVariants(gpu);
  return { plan: cached ? { ...plan, matmulVariant: cached.lookup } : plan, tuned, classes: cached?.classes ?? 0 };
}
