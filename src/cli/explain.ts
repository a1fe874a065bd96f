/** `peftgraph explain` and `peftgraph compile`: the compiler's stages, summarized or written out. */
import { lowerModel } from '../compiler/lower/index.ts';
import { autodiff } from '../compiler/autodiff.ts';
import { addOptimizer } from '../compiler/optimizer.ts';
import { simplify } from '../compiler/passes/simplify.ts';
import { compilePlan, PORTABLE_PROFILE, type DeviceProfile, type Plan } from '../compiler/plan.ts';
import { paramReport, formatReport } from '../compiler/params-report.ts';
import type { Graph } from '../compiler/ir/graph.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { formatImport, planImport } from '../hf/import.ts';

export interface StageOptions {
  batch: number;
  mode: 'train' | 'infer';
  merged?: boolean;
  profile?: DeviceProfile;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

/** Runs every stage and returns the final graph, plans and a printable summary. */
export function stages(spec: ModelSpec, o: StageOptions): { graph: Graph; plan: Plan; lines: string[] } {
  const lines: string[] = [];
  const profile = o.profile ?? PORTABLE_PROFILE;
  const { graph: fwd } = lowerModel(spec, { batch: o.batch, mode: o.mode, merged: o.merged });
  lines.push(`lower        ${fwd.nodes.length} nodes, ${fwd.params().size} params, ${fwd.inputs().size} inputs (batch ${o.batch}, ${o.mode}${o.merged ? ', merged' : ''})`);
  const imports = planImport(spec, fwd); // checkpoint headers only: names, shapes, dtypes
  if (imports.length) lines.push(...formatImport(imports).map((l, i) => `${i ? '             ' : 'import       '}${l}`));
  lines.push(...formatReport(paramReport(fwd), 'params').split('\n').map((l) => `             ${l}`));
  let g = fwd;
  if (o.mode === 'train') {
    const { graph: joint, report } = autodiff(fwd, { loss: 'loss' });
    lines.push(`autodiff     +${report.backwardNodes} backward nodes; ${report.differentiatedNodes} forward nodes differentiated, ${report.prunedNodes} pruned (frozen trunk / no trainable path)`);
    const before = joint.nodes.length;
    g = addOptimizer(joint, { kind: 'adamw', clip: 5 }).graph;
    lines.push(`optimizer    +${g.nodes.length - before} nodes (AdamW + global-norm clipping, in the step graph)`);
  }
  const { graph: simple, report: sr } = simplify(g);
  lines.push(`simplify     ${sr.before} -> ${sr.after} nodes (${sr.rounds} rounds: DCE, CSE, constant folding, transpose folding)`);
  const unfused = compilePlan(simple, profile, { fuse: false });
  const plan = compilePlan(simple, profile);
  const kinds: Record<string, number> = {};
  for (const k of plan.kernels) kinds[k.kind] = (kinds[k.kind] ?? 0) + 1;
  const epilogues = plan.kernels.filter((k) => k.kind === 'matmul' && k.nodes.length > 1).length;
  lines.push(`fuse         ${unfused.kernels.length} op-by-op kernels -> ${plan.kernels.length} fused (${Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(', ')}; ${epilogues} matmuls with fused epilogues)`);
  lines.push(`memory       ${plan.buffers.length} buffers; peak ${mib(plan.stats.peakBytes)} with reuse, ${mib(plan.stats.peakBytesNoReuse)} without${plan.stats.halfActivations ? '; f16 activations' : ''}`);
  lines.push(`dispatch     ${plan.kernels.length} dispatches in one command buffer per ${o.mode === 'train' ? 'step' : 'run'}`);
  return { graph: simple, plan, lines };
}
