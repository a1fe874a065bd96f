/** `peftgraph explain` and `peftgraph compile`: the compiler's stages, summarized or written out. */
import { compile, DEFAULT_OPTIMIZER } from '../compiler/compile.ts';
import type { OptimizerConfig } from '../compiler/optimizer.ts';
import { compilePlan, PORTABLE_PROFILE, type DeviceProfile, type Plan, type PlanOptions } from '../compiler/plan.ts';
import { paramReport, formatReport } from '../compiler/params-report.ts';
import type { Graph } from '../compiler/ir/graph.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { formatImport, planImport, planInit } from '../hf/import.ts';
import { formatInitFiles } from '../runtime/init-files.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import { planFeatureCache } from '../train/feature-plan.ts';

export interface StageOptions {
  batch: number;
  mode: 'train' | 'infer';
  merged?: boolean;
  profile?: DeviceProfile;
  /** Training: the update rule (the default is train's). */
  optimizer?: OptimizerConfig;
  /** Training: cache the frozen per-example part as train does (default on, as in train). */
  cacheFrozen?: boolean;
  /** Training examples the cache is planned for (its tables' size; the counts do not depend on it). */
  examples?: number;
  /** Plan options (frozen weights' dtype). */
  plan?: PlanOptions;
}

/** The training set size explain plans the frozen-feature cache for, unless told. */
export const EXPLAIN_EXAMPLES = 1000;

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

/** Runs the compile pipeline (the one `train` runs) and returns its graph, plan and a printable summary. */
export function stages(spec: ModelSpec, o: StageOptions): { graph: Graph; plan: Plan; lines: string[] } {
  const lines: string[] = [];
  const profile = o.profile ?? PORTABLE_PROFILE;
  const fwd = lowerModel(spec, { batch: o.batch, mode: o.mode, merged: o.merged }).graph;
  // Training reads the frozen per-example part from a cache, as train does: the step is the rest.
  const examples = o.examples ?? EXPLAIN_EXAMPLES;
  const cache =
    o.mode === 'train' && o.cacheFrozen !== false
      ? planFeatureCache(fwd, o.batch, examples, { maxBuffer: profile.maxBufferSize })
      : null;
  const split = cache?.split ?? null;
  const c = compile(cache?.step ?? fwd, {
    batch: o.batch,
    mode: o.mode,
    merged: o.merged,
    profile,
    optimizer: o.optimizer,
    plan: o.plan,
  });
  lines.push(
    `lower        ${fwd.nodes.length} nodes, ${fwd.params().size} params, ${fwd.inputs().size} inputs (batch ${o.batch}, ${o.mode}${o.merged ? ', merged' : ''})`,
  );
  const imports = planImport(spec, fwd); // checkpoint headers only: names, shapes, dtypes
  // Init files name the unmerged model's params (a merged graph has folded PEFT params away);
  // the towers' params, which they may not repeat, are the same either way.
  const unmerged = o.merged ? lowerModel(spec, { batch: o.batch, mode: o.mode }).graph : fwd;
  const init = formatInitFiles(planInit(spec, unmerged, imports));
  if (imports.length || init.length)
    lines.push(...[...formatImport(imports), ...init].map((l, i) => `${i ? '             ' : 'import       '}${l}`));
  lines.push(
    ...formatReport(paramReport(fwd), 'params')
      .split('\n')
      .map((l) => `             ${l}`),
  );
  if (split) {
    const bytes = split.tensors.reduce((n, t) => n + t.perExample * 4, 0);
    lines.push(
      `cache        ${split.tensors.length} frozen tensors, ${(bytes / 1024).toFixed(1)} KiB per example, computed once per training example (for ${examples} examples: ${cache?.resident ? 'kept on the device' : 'streamed each step'}): ${split.nodesCached} of ${fwd.nodes.length} forward nodes leave the step (train --no-cache-frozen keeps them)`,
    );
    for (const t of split.tensors) lines.push(`             ${t.name} [${t.shape}] ${t.scope ?? ''}`.trimEnd());
  }
  if (c.autodiff) {
    const r = c.autodiff;
    lines.push(
      `autodiff     +${r.backwardNodes} backward nodes; ${r.differentiatedNodes} forward nodes differentiated, ${r.prunedNodes} pruned (frozen trunk / no trainable path)`,
    );
    lines.push(
      `optimizer    ${c.step!.params.length} trainable tensors in ${c.step!.packs.length} pack(s) of ${c.step!.packs.map((p) => p.elements).join('+')} elements, ${c.step!.state.length} state tensors (${(o.optimizer ?? DEFAULT_OPTIMIZER).kind} + global-norm clipping, in the step graph, one update per pack)`,
    );
  }
  const sr = c.simplify;
  lines.push(
    `simplify     ${sr.before} -> ${sr.after} nodes (${sr.rounds} rounds: DCE, CSE, constant folding, transpose folding)`,
  );
  const plan = c.plan;
  // For comparison only: the same graph planned one kernel per primitive.
  const unfused = compilePlan(c.graph, profile, { fuse: false });
  const kinds: Record<string, number> = {};
  for (const k of plan.kernels) kinds[k.kind] = (kinds[k.kind] ?? 0) + 1;
  const epilogues = plan.kernels.filter((k) => k.kind === 'matmul' && k.nodes.length > 1).length;
  lines.push(
    `fuse         ${unfused.kernels.length} op-by-op kernels -> ${plan.kernels.length} fused (${Object.entries(kinds)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}; ${epilogues} matmuls with fused epilogues)`,
  );
  lines.push(
    `memory       ${plan.buffers.length} buffers; peak ${mib(plan.stats.peakBytes)} with reuse, ${mib(plan.stats.peakBytesNoReuse)} without${plan.stats.halfActivations ? '; f16 activations' : ''}`,
  );
  // A shader compiler (llvmpipe's in particular) compiles each distinct source once: a cold start pays per shader.
  const shaders = new Set(plan.kernels.map((k) => k.wgsl));
  const kib = [...shaders].reduce((n, w) => n + w.length, 0) / 1024;
  lines.push(
    `dispatch     ${plan.kernels.length} dispatches in one command buffer per ${o.mode === 'train' ? 'step' : 'run'}; ${shaders.size} distinct shaders (${kib.toFixed(0)} KiB of WGSL; sizes in a uniform)`,
  );
  return { graph: c.graph, plan, lines };
}
