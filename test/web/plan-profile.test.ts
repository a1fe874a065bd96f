/**
 * Plans respect a browser adapter's limits: the examples' specs (the VQA model, merged and not;
 * the captioning model with its decoder plans) and a training artifact, planned for the adapter
 * headless Chromium gives a page here (SwiftShader: 10 storage buffers, 256 invocations per
 * workgroup, 256-byte offsets; scripts/browser-adapter.ts recorded it), need nothing it lacks.
 * No GPU: the plans are checked by what they use (runtime/plan-needs.ts), as Artifact.load does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildArtifact } from '../../src/cli/artifact.ts';
import { allPlans } from '../../src/runtime/artifact.ts';
import { peft } from '../../src/dsl/index.ts';
import { planNeeds, unmetNeeds } from '../../src/runtime/plan-needs.ts';
import { profileOf } from '../../src/runtime/profile.ts';
import captions from '../../examples/mnist-captions.spec.ts';
import vqa from '../../examples/mnist-vqa.spec.ts';
import { ROOT } from '../helpers/cli.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

const adapter = JSON.parse(
  readFileSync(join(ROOT, 'test', 'fixtures', 'adapters', 'chromium-swiftshader.json'), 'utf8'),
) as { limits: Record<string, number>; features: string[] };
const features = new Set(adapter.features);
const profile = profileOf({ limits: adapter.limits, info: { isSoftware: true }, hasF16: features.has('shader-f16') });

type Meta = ReturnType<typeof buildArtifact>['meta'];
const needsOf = (meta: Meta) =>
  planNeeds(
    allPlans(meta).map(({ plan }) => ({
      ...plan,
      kernels: plan.kernels.map((k) => ({ workgroups: k.workgroups, wgsl: k.wgsl })),
    })),
  );

describe("plans for the browser's SwiftShader adapter", () => {
  const step = {
    optimizer: { kind: 'adamw' as const, clip: 5, weightDecay: 0.01 },
    lr: 5e-3,
    schedule: { kind: 'linear' as const, warmup: 0.1 },
    totalSteps: 10,
  };
  const cases: [string, () => Meta][] = [
    [
      'the VQA example, merged',
      () => buildArtifact(vqa.spec, { mode: 'infer', batch: 16, merged: true, profile }).meta,
    ],
    ['the VQA example, experts unmerged', () => buildArtifact(vqa.spec, { mode: 'infer', batch: 16, profile }).meta],
    [
      "the VQA example with a GPU's kernel choices (tiled matmuls: 256 invocations, 8 KiB of workgroup memory)",
      () =>
        buildArtifact(vqa.spec, {
          mode: 'infer',
          batch: 16,
          profile: { ...profile, isSoftware: false },
          plan: { matmulVariant: () => ({ family: 'tiled' }), vec4Loads: true, smallWorkgroups: false, mapElements: 4 },
        }).meta,
    ],
    [
      'the captioning example (beam decoder)',
      () => buildArtifact(captions.spec, { mode: 'infer', batch: 4, profile }).meta,
    ],
    [
      'a training artifact (MixPHM and LoRA)',
      () =>
        buildArtifact(
          tinyVl()
            .freeze('**')
            .insert(
              peft.mixphm({ at: 'text.layers.*.ffn', experts: 4, bottleneck: 4, kron: 2, rank: 2 }),
              peft.lora({ at: 'text.layers.0.attn.{q,v}', rank: 2 }),
            ).spec,
          { mode: 'train', batch: 8, profile, step },
        ).meta,
    ],
  ];
  it('the GPU kernel choices really use tiles (the case above is not the software plan again)', () => {
    const needs = needsOf(cases[2][1]());
    expect(needs.limits.maxComputeInvocationsPerWorkgroup).toBe(256);
    expect(needs.limits.maxComputeWorkgroupStorageSize).toBe(8192);
  });
  for (const [name, build] of cases)
    it(`${name} needs nothing the adapter lacks`, () => {
      const needs = needsOf(build());
      expect(unmetNeeds(needs, adapter.limits, features)).toEqual([]);
      expect(needs.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThan(16);
      // The check has teeth: the same plans on an adapter with WebGPU's smallest workgroups fail by name.
      expect(unmetNeeds(needs, { ...adapter.limits, maxComputeInvocationsPerWorkgroup: 16 }, features)).toEqual([
        expect.stringMatching(/^maxComputeInvocationsPerWorkgroup: the plans need \d+, the adapter has 16$/),
      ]);
    });
});
