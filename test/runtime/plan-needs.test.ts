/**
 * An artifact is checked against the adapter it loads on by what its plans use, not by the
 * limits of the device it was compiled on: compiled here (lavapipe), it loads on an adapter with
 * a browser SwiftShader's limits (recorded from headless Chromium) and computes the same outputs, and an adapter
 * short of what the plans use is refused with every shortfall named.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildArtifact, writeArtifact } from '../../src/cli/artifact.ts';
import { peft } from '../../src/dsl/index.ts';
import { Artifact } from '../../src/runtime/artifact.ts';
import type { Gpu } from '../../src/runtime/device.ts';
import { planNeeds, unmetNeeds, workgroupBytes } from '../../src/runtime/plan-needs.ts';
import { profileOf } from '../../src/runtime/profile.ts';
import { makeBatch } from '../../src/runtime/batches.ts';
import { quadrants } from '../../examples/quadrants.ts';
import { useGpu } from '../helpers/gpu.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

const runtimeIndex = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'src/runtime/index.ts');

/** The adapter headless Chromium gives a page here (scripts/browser-adapter.ts recorded it). */
const SWIFTSHADER = JSON.parse(
  readFileSync(join(runtimeIndex, '../../../test/fixtures/adapters/chromium-swiftshader.json'), 'utf8'),
) as { limits: Record<string, number>; features: string[] };

describe('what plans need of an adapter', () => {
  it('is read off the plans: bindings, ranges, buffers, workgroups, workgroup sizes, alignment, f16', () => {
    const needs = planNeeds([
      {
        kernels: [
          { workgroups: [3, 70000, 1], wgsl: '@compute @workgroup_size(8, 4)\nvar<uniform> s: Sizes;' },
          {
            workgroups: [1, 1, 5],
            wgsl: 'enable f16;\nvar<workgroup> a: array<f32, 1024>;\nvar<workgroup> b : array<vec4<f16>, 16>;\n@compute @workgroup_size(64)',
          },
        ],
        buffers: [{ bytes: 4096 }, { bytes: 1024, view: { of: 0, offset: 768 } }, { bytes: 100 }],
        bindings: [[0, 1, 2], [2]],
      },
    ]);
    expect(needs.limits).toMatchObject({
      maxStorageBuffersPerShaderStage: 3,
      maxUniformBuffersPerShaderStage: 1,
      maxBindingsPerBindGroup: 4,
      maxStorageBufferBindingSize: 4096,
      maxBufferSize: 4096,
      maxComputeWorkgroupsPerDimension: 70000,
      maxComputeInvocationsPerWorkgroup: 64,
      maxComputeWorkgroupSizeX: 64,
      maxComputeWorkgroupSizeY: 4,
      // 1024 f32 + 16 vec4<f16>.
      maxComputeWorkgroupStorageSize: 4096 + 128,
    });
    expect(() => workgroupBytes('var<workgroup> s: Tile;')).toThrow(/not an array of scalars or vectors/);
    expect(() => workgroupBytes('var<workgroup> s: array<f32, TILE>;')).toThrow(/of a literal size/);
    expect(workgroupBytes('var<workgroup> s: array<u32, 64u>;')).toBe(256);
    // 768 = 3 x 256: views bound at multiples of 256.
    expect(needs.offsetAlignment).toBe(256);
    expect(needs.features).toEqual(['shader-f16']);
    expect(
      unmetNeeds(
        needs,
        { maxComputeWorkgroupsPerDimension: 65535, minStorageBufferOffsetAlignment: 512, maxBufferSize: 1 << 20 },
        new Set(),
      ),
    ).toEqual([
      'maxComputeWorkgroupsPerDimension: the plans need 70000, the adapter has 65535',
      'minStorageBufferOffsetAlignment: the plans bind views at multiples of 256 bytes, the adapter needs multiples of 512',
      'shader-f16: the plans need it, the adapter lacks it',
    ]);
  });

  const gpu = useGpu();
  const spec = tinyVl()
    .freeze('**')
    .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2 })).spec;
  const x = makeBatch(quadrants(4, 3), [0, 1, 2, 3], 4).inputs;
  const like = (limits: Record<string, number>): Gpu => {
    const g = gpu();
    return { ...g, limits: { ...g.limits, ...limits }, destroy: () => {} };
  };

  it('an artifact compiled here loads under SwiftShader-like limits and computes the same; a short adapter is refused by name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-needs-'));
    writeArtifact(dir, buildArtifact(spec, { mode: 'infer', batch: 4, profile: profileOf(gpu()) }).meta, runtimeIndex);
    const feed = { image: x.image, tokens: x.tokens, mask: x.mask };
    const here = await Artifact.load(gpu(), dir, 'random', 3);
    const want = (await here.run(feed)).logits;
    here.destroy();
    // Smaller than lavapipe's where SwiftShader's are smaller: this would have been refused by compile-time limits.
    const ss = await Artifact.load(like({ ...SWIFTSHADER.limits, maxBufferSize: 1 << 28 }), dir, 'random', 3);
    expect(Array.from((await ss.run(feed)).logits)).toEqual(Array.from(want));
    ss.destroy();
    const short = like({ maxStorageBuffersPerShaderStage: 2, maxComputeInvocationsPerWorkgroup: 32 });
    await expect(Artifact.load(short, dir, 'random', 3)).rejects.toThrow(
      /needs more than this adapter \(.*\) gives:\n {2}maxStorageBuffersPerShaderStage: the plans need \d+, the adapter has 2\n {2}maxComputeInvocationsPerWorkgroup: the plans need 64, the adapter has 32\n {2}recompile/,
    );
  });
});
