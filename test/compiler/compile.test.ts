/** One compile pipeline: what `explain` reports is the plan `train` runs, and eval's plan is the artifact's. */
import { describe, expect, it } from 'vitest';
import exampleSpec from '../../examples/quadrants.spec.ts';
import { stages } from '../../src/cli/explain.ts';
import { buildArtifact } from '../../src/cli/artifact.ts';
import { compile, DEFAULT_OPTIMIZER } from '../../src/compiler/compile.ts';
import { PORTABLE_PROFILE } from '../../src/compiler/plan.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { compileStep } from '../../src/train/train-step.ts';

describe('the compile pipeline', () => {
  const spec = exampleSpec.spec;

  it("explain's node and kernel counts are those of the step train compiles", () => {
    const { lines } = stages(spec, { batch: 32, mode: 'train' });
    const { graph } = lowerModel(spec, { batch: 32, mode: 'train' });
    // train's step: the CLI's default optimizer flags (adamw, weight decay 0.01, clip 5, eps 1e-6).
    const { plan } = compileStep(graph, PORTABLE_PROFILE, { optimizer: { kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 }, lr: 3e-3, schedule: { kind: 'constant' }, totalSteps: 100 });
    expect(DEFAULT_OPTIMIZER).toEqual({ kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 });
    expect(lines.find((l) => l.startsWith('simplify'))).toContain(`-> ${plan.stats.nodes} nodes`);
    expect(lines.find((l) => l.startsWith('fuse'))).toContain(`-> ${plan.kernels.length} fused`);
    expect(lines.find((l) => l.startsWith('dispatch'))).toContain(`${plan.kernels.length} dispatches`);
  });

  it("the evaluator's inference plan is the inference artifact's", () => {
    const evalPlan = compile(spec, { batch: 8, mode: 'infer', profile: PORTABLE_PROFILE }).plan;
    const art = buildArtifact(spec, { mode: 'infer', batch: 8, profile: PORTABLE_PROFILE }).meta.plan;
    expect(art.kernels.map((k) => k.wgsl)).toEqual(evalPlan.kernels.map((k) => k.wgsl));
  });
});
