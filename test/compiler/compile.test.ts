/** One compile pipeline: what `explain` reports is the plan `train` runs, and eval's plan is the artifact's. */
import { describe, expect, it } from 'vitest';
import exampleSpec from '../../examples/quadrants.spec.ts';
import vqaSpec from '../../examples/mnist-vqa.spec.ts';
import { EXPLAIN_EXAMPLES, stages } from '../../src/cli/explain.ts';
import { planFeatureCache } from '../../src/train/feature-plan.ts';
import { buildArtifact } from '../../src/cli/artifact.ts';
import { compile, DEFAULT_OPTIMIZER } from '../../src/compiler/compile.ts';
import { PORTABLE_PROFILE } from '../../src/compiler/plan.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { compileStep } from '../../src/train/train-step.ts';
import { peft, vl } from '../../src/dsl/index.ts';

describe('the compile pipeline', () => {
  it("plans the seeds' real sizes under a 128 MiB binding limit: a 50k-row table and its logits bound in ranges (no weights needed)", () => {
    const vit = vl.vit({ image: [224, 224], channels: 3, patch: 16, width: 1024, depth: 24, heads: 16 });
    const lora = peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 8, routing: 'inner' });
    // RoBERTa-large's table: 50,265 x 1,024 f32 = 206 MB; GPT-2 medium's tied head reads 50,257 x 1,024.
    const roberta = vl
      .model({
        vision: vit,
        text: vl.encoder({ vocab: 50265, maxLen: 32, width: 1024, depth: 24, heads: 16 }),
        visualPrefix: 'pooled',
        head: vl.classifier({ answers: 3129 }),
      })
      .freeze('**')
      .insert(lora).spec;
    const gpt2 = vl
      .model({
        vision: vit,
        text: vl.decoder({ vocab: 50257, maxLen: 32, width: 1024, depth: 24, heads: 16 }),
        visualPrefix: 'pooled',
        head: vl.lm(),
      })
      .freeze('**')
      .insert(lora).spec;
    for (const [spec, mode] of [
      [roberta, 'infer'],
      [gpt2, 'train'],
    ] as const) {
      const { plan } = compile(spec, { batch: 4, mode, profile: PORTABLE_PROFILE });
      const ranges = plan.buffers.filter((b) => b.label.includes('[range '));
      expect(ranges.filter((b) => b.label.startsWith('text.embed.tok')).length, mode).toBe(2);
      for (const r of ranges) expect(r.bytes).toBeLessThanOrEqual(PORTABLE_PROFILE.maxStorageBufferBindingSize);
      for (const list of plan.bindings)
        expect(list.length).toBeLessThanOrEqual(PORTABLE_PROFILE.maxStorageBuffersPerShaderStage);
    }
  });

  it('names nodes by their layer path once (an insertion point under its tower was spelled twice: text.text.layers.0.attn...)', () => {
    const { graph } = lowerModel(vqaSpec.spec, { batch: 2, mode: 'train' });
    const scopes = new Set(graph.nodes.map((n) => n.scope ?? ''));
    expect(scopes).toContain('text.layers.0.attn.q.lora');
    expect(scopes).toContain('text.layers.0.ffn');
    for (const s of scopes) expect(s, s).not.toMatch(/(^|\.)(text|vision)\.(.*\.)?\2\./);
  });

  const spec = exampleSpec.spec;

  for (const [name, m] of [
    ['quadrants (nothing frozen)', spec],
    ['mnist-vqa (frozen towers: a resident feature cache)', vqaSpec.spec],
  ] as const)
    it(`explain's node and kernel counts are those of the step train compiles: ${name}`, () => {
      checkExplain(m);
    });

  function checkExplain(spec: typeof exampleSpec.spec) {
    const { lines } = stages(spec, { batch: 32, mode: 'train' });
    const { graph } = lowerModel(spec, { batch: 32, mode: 'train' });
    // train's step: the forward less what it caches per example (the same split explain reports),
    // with the CLI's default optimizer flags (adamw, weight decay 0.01, clip 5, eps 1e-6).
    const cache = planFeatureCache(graph, 32, EXPLAIN_EXAMPLES, { maxBuffer: PORTABLE_PROFILE.maxBufferSize });
    expect(lines.some((l) => l.startsWith('cache'))).toBe(cache.split !== null);
    const { plan } = compileStep(cache.step, PORTABLE_PROFILE, {
      optimizer: { kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 },
      lr: 3e-3,
      schedule: { kind: 'constant' },
      totalSteps: 100,
    });
    expect(DEFAULT_OPTIMIZER).toEqual({ kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 });
    expect(lines.find((l) => l.startsWith('simplify'))).toContain(`-> ${plan.stats.nodes} nodes`);
    expect(lines.find((l) => l.startsWith('fuse'))).toContain(`-> ${plan.kernels.length} fused`);
    expect(lines.find((l) => l.startsWith('dispatch'))).toContain(`${plan.kernels.length} dispatches`);
    expect(lines.find((l) => l.startsWith('dispatch'))).toContain(
      `${new Set(plan.kernels.map((k) => k.wgsl)).size} distinct shaders`,
    );
    if (cache.split)
      expect(lines.find((l) => l.startsWith('cache'))).toContain(cache.resident ? 'kept on the device' : 'streamed');
  }

  it("each of an inference artifact's batch buckets is compile()'s deployed plan (no targets, no loss)", () => {
    const art = buildArtifact(spec, { mode: 'infer', batch: 8, profile: PORTABLE_PROFILE }).meta.plans;
    expect(art.map((p) => p.batch)).toEqual([1, 2, 4, 8]);
    for (const { batch, plan } of art) {
      const want = compile(spec, { batch, mode: 'infer', loss: false, profile: PORTABLE_PROFILE }).plan;
      expect(plan.kernels.map((k) => k.wgsl)).toEqual(want.kernels.map((k) => k.wgsl));
      expect(Object.keys(plan.inputs)).not.toContain('targets');
      expect(Object.keys(plan.outputs).filter((k) => k.startsWith('loss'))).toEqual([]);
    }
    // The evaluator asks for the loss, so its plan takes the targets.
    expect(
      Object.keys(compile(spec, { batch: 8, mode: 'infer', loss: true, profile: PORTABLE_PROFILE }).plan.inputs),
    ).toContain('targets');
  });
});
