/** Ahead-of-time artifacts: typed module, same results as in process, mismatch errors, runtime isolation. */
import { rewritePlan } from '../helpers/artifact-edit.ts';
import { importGraph } from '../helpers/import-graph.ts';
import { decodeKernel } from '../../src/compiler/kernel/serialize.ts';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project } from 'ts-morph';
import { peft } from '../../src/dsl/index.ts';
import { buildArtifact, writeArtifact } from '../../src/cli/artifact.ts';
import { Artifact, ArtifactError } from '../../src/runtime/artifact.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { compilePlan } from '../../src/compiler/plan.ts';
import { simplify } from '../../src/compiler/passes/simplify.ts';
import { Executor } from '../../src/runtime/executor.ts';
import { TrainStep } from '../../src/train/train-step.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { profileOf } from '../../src/runtime/profile.ts';
import { makeBatch } from '../../src/runtime/batches.ts';
import { quadrants } from '../../examples/quadrants.ts';
import { useGpu } from '../helpers/gpu.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

/** Copies of an artifact with its plan.json edited (digest rewritten, to reach the checks behind it). */
const variantOf =
  <P>(dir: string, plan: P) =>
  (edit: (p: P) => void): string => {
    const d = mkdtempSync(join(tmpdir(), 'pg-art-'));
    cpSync(dir, d, { recursive: true });
    const p = structuredClone(plan);
    edit(p);
    rewritePlan(d, p);
    return d;
  };

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const runtimeIndex = join(repo, 'src/runtime/index.ts');
const spec = tinyVl()
  .freeze('**')
  .insert(
    peft.mixphm({ at: 'text.layers.*.ffn', experts: 4, bottleneck: 4, kron: 2, rank: 2 }),
    peft.lora({ at: 'text.layers.0.attn.{q,v}', rank: 2 }),
  ).spec;
const step = {
  optimizer: { kind: 'adamw' as const, clip: 5, weightDecay: 0.01 },
  lr: 5e-3,
  schedule: { kind: 'linear' as const, warmup: 0.1 },
  totalSteps: 10,
};
const batch = makeBatch(quadrants(8, 3), [...Array(8).keys()], 8).inputs;

describe('artifacts', () => {
  const gpu = useGpu();

  it('the generated module type-checks, and a wrong call does not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-art-'));
    writeArtifact(dir, buildArtifact(spec, { mode: 'infer', batch: 8, profile: profileOf(gpu()) }).meta, runtimeIndex);
    const project = new Project({ tsConfigFilePath: join(repo, 'tsconfig.json'), skipAddingFilesFromTsConfig: true });
    project.addSourceFileAtPath(join(dir, 'model.ts'));
    writeFileSync(
      join(dir, 'good.ts'),
      `import { load, inputs, type Inputs } from './model.ts';
import type { Gpu } from '${runtimeIndex}';
export async function f(gpu: Gpu, x: Inputs) { const m = await load(gpu, 'random'); const out = await m.run(x); const n: 8 = inputs.tokens.shape[0]; return [out.logits.length, n]; }\n`,
    );
    writeFileSync(
      join(dir, 'bad.ts'),
      `import { load } from './model.ts';
import type { Gpu } from '${runtimeIndex}';
export async function f(gpu: Gpu) { const m = await load(gpu, 'random'); return m.run({ image: new Float32Array(1), tokens: new Float32Array(1) }); }\n`,
    );
    const diag = (file: string) => {
      const sf = project.addSourceFileAtPath(join(dir, file));
      return project
        .getPreEmitDiagnostics()
        .filter((d) => d.getSourceFile()?.getFilePath() === sf.getFilePath())
        .map((d) => d.getMessageText())
        .map((m) => (typeof m === 'string' ? m : m.getMessageText()));
    };
    expect(diag('good.ts')).toEqual([]);
    const bad = diag('bad.ts').join('\n');
    expect(bad).toMatch(/Float32Array.*Int32Array|missing the following properties|is missing in type/);
  });

  it('an inference artifact gives the in-process outputs; merged is smaller', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-art-'));
    const meta = buildArtifact(spec, { mode: 'infer', batch: 8, profile: profileOf(gpu()) }).meta;
    writeArtifact(dir, meta, runtimeIndex);
    const { graph } = lowerModel(spec, { batch: 8, mode: 'infer' });
    const weights = initialWeights(graph, 5);
    const art = await Artifact.load(gpu(), dir, weights);
    const ex = await Executor.create(gpu(), compilePlan(simplify(graph).graph, profileOf(gpu())));
    try {
      for (const [k, v] of Object.entries(weights)) if (ex.plan.params[k]) ex.setParam(k, v);
      const feed = Object.fromEntries(Object.entries(batch).filter(([k]) => ex.plan.inputs[k]));
      const want = await ex.run(feed, ['logits']);
      const got = await art.run(feed);
      expect([...got.logits]).toEqual([...want.logits]);
    } finally {
      art.destroy();
      ex.destroy();
    }
    const merged = buildArtifact(spec, { mode: 'infer', batch: 8, merged: true, profile: profileOf(gpu()) }).meta;
    const size = (m: typeof meta) => m.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    expect(size(merged)).toBeLessThan(size(meta));
  });

  it('an inference artifact answers 1, 3 and 8 examples (buckets 1, 2, 4, 8) with the batch-8 rows; refuses 9, a missing input, targets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-art-'));
    const meta = buildArtifact(spec, { mode: 'infer', batch: 8, profile: profileOf(gpu()) }).meta;
    const files = writeArtifact(dir, meta, runtimeIndex);
    // Kernels whose code does not depend on the batch are written once for all buckets.
    const kernelRefs = meta.plans.reduce((s, p) => s + p.plan.kernels.length, 0);
    expect(files.filter((f) => f.endsWith('.wgsl')).length).toBeLessThan(kernelRefs);
    const { graph } = lowerModel(spec, { batch: 8, mode: 'infer' });
    const weights = initialWeights(graph, 9);
    const art = await Artifact.load(gpu(), dir, weights);
    const ex = await Executor.create(gpu(), compilePlan(simplify(graph).graph, profileOf(gpu())));
    try {
      expect(art.buckets).toEqual([1, 2, 4, 8]);
      for (const [k, v] of Object.entries(weights)) if (ex.plan.params[k]) ex.setParam(k, v);
      const feed = Object.fromEntries(Object.entries(batch).filter(([k]) => ex.plan.inputs[k]));
      const want = (await ex.run(feed, ['logits'])).logits;
      const answers = want.length / 8;
      const rows = (n: number) =>
        Object.fromEntries(Object.entries(feed).map(([k, v]) => [k, v.slice(0, (v.length / 8) * n)]));
      for (const n of [1, 3, 8]) {
        const got = (await art.run(rows(n))).logits;
        expect(got.length).toBe(n * answers);
        for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(want[i], 5);
      }
      const nine = Object.fromEntries(
        Object.entries(feed).map(([k, v]) => [
          k,
          Float32Array.from({ length: (v.length / 8) * 9 }, (_, i) => v[i % v.length]),
        ]),
      );
      await expect(art.run(nine)).rejects.toThrow(/9 examples exceed the artifact's maximum batch 8/);
      const { mask: _m, ...noMask } = rows(2);
      await expect(art.run(noMask)).rejects.toThrow(/inputs missing: mask/);
      await expect(art.run({ ...rows(2), targets: batch.targets.slice(0, 12) })).rejects.toThrow(
        /not inputs of this model: targets/,
      );
      await expect(art.run({ ...rows(2), mask: new Float32Array(5) })).rejects.toThrow(
        /input 'mask' has 5 values: expected a whole number of examples of 3 values/,
      );
    } finally {
      art.destroy();
      ex.destroy();
    }
  });

  it('a training artifact trains to the same losses as the in-process step', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-art-'));
    writeArtifact(
      dir,
      buildArtifact(spec, { mode: 'train', batch: 8, profile: profileOf(gpu()), step }).meta,
      runtimeIndex,
    );
    const { graph } = lowerModel(spec, { batch: 8, mode: 'train' });
    // Every kernel keeps the description its WGSL was rendered from, as data that decodes.
    const kept = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')).plans[0].plan.kernels;
    expect(kept.length).toBeGreaterThan(10);
    for (const k of kept) expect(decodeKernel(k.description).out, k.name).toBe(k.root);
    const weights = initialWeights(graph, 5);
    const art = await Artifact.load(gpu(), dir, weights);
    const ts = await TrainStep.compile(gpu(), graph, step);
    try {
      ts.setWeights(weights);
      for (let s = 0; s < 4; s++) {
        const [a, b] = await Promise.all([art.step(batch, s), ts.submit(batch, s)]);
        expect(a.losses).toEqual(b.losses);
      }
    } finally {
      art.destroy();
      ts.destroy();
    }
  });

  it('refuses another format version, a smaller adapter, and mismatched weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-art-'));
    writeArtifact(dir, buildArtifact(spec, { mode: 'infer', batch: 8, profile: profileOf(gpu()) }).meta, runtimeIndex);
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
    const variant = variantOf(dir, plan);
    await expect(
      Artifact.load(
        gpu(),
        variant((p) => (p.format = 'peftgraph-artifact-0')),
        'random',
      ),
    ).rejects.toThrow(/format "peftgraph-artifact-0", but this runtime reads 'peftgraph-artifact-8'/);
    await expect(
      Artifact.load(
        gpu(),
        variant((p) => (p.plans[0].plan.kernels[0].workgroups = [1e9, 1, 1])),
        'random',
      ),
    ).rejects.toThrow(
      /needs more than this adapter .*\n.*maxComputeWorkgroupsPerDimension: the plans need 1000000000, the adapter has 65535/,
    );
    const { graph } = lowerModel(spec, { batch: 8, mode: 'infer' });
    const w = initialWeights(graph, 1);
    delete w['head.fc2.b'];
    w['text.layers.0.attn.q.W'] = new Float32Array(3);
    await expect(Artifact.load(gpu(), dir, w)).rejects.toThrow(ArtifactError);
    await expect(Artifact.load(gpu(), dir)).rejects.toThrow(
      /no weights given, and none bundled: pass a safetensors path or a record of every param .*compile with --adapter to bundle them, or pass 'random'/,
    );
    // Weights as a path (read as safetensors) or a record; anything else named.
    await expect(Artifact.load(gpu(), dir, join(dir, 'nothing.safetensors'))).rejects.toThrow(
      /weights .*nothing\.safetensors: .*cannot read/,
    );
    await expect(Artifact.load(gpu(), dir, 42 as never)).rejects.toThrow(
      /weights: expected a safetensors file path, a record of param name -> Float32Array, or 'random'; got number/,
    );
    await expect(Artifact.load(gpu(), dir, new Float32Array(4) as never)).rejects.toThrow(/got a typed array/);
    await expect(Artifact.load(gpu(), dir, new Map() as never)).rejects.toThrow(
      /got a Map \(Object\.fromEntries turns one into a record\)/,
    );
    await expect(Artifact.load(gpu(), dir, { 'head.fc2.b': 'x' } as never)).rejects.toThrow(
      /weights: 'head\.fc2\.b' is string, not an array of values/,
    );
    await expect(Artifact.load(gpu(), dir, w)).rejects.toThrow(
      /weights do not match \(this artifact is not merged: [^)]*\):[\s\S]*'text\.layers\.0\.attn\.q\.W' has 3 values, the artifact's \[8,8\] needs 64[\s\S]*'head\.fc2\.b' \[6\] is missing/,
    );
  });

  it('checks every request as train checks data: ids inside the vocabulary, 0/1 masks that keep a token, finite pixels', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-art-'));
    writeArtifact(dir, buildArtifact(spec, { mode: 'infer', batch: 8, profile: profileOf(gpu()) }).meta, runtimeIndex);
    const art = await Artifact.load(gpu(), dir, 'random');
    try {
      const one = {
        image: new Float32Array(256).fill(0.5),
        tokens: Int32Array.from([1, 2, 3]),
        mask: Float32Array.from([1, 1, 0]),
      };
      expect((await art.run(one)).logits).toHaveLength(6);
      const bad = (k: keyof typeof one, v: ArrayLike<number>) => art.run({ ...one, [k]: v });
      await expect(bad('tokens', [1, 8, 2])).rejects.toThrow(
        /input 'tokens'\[1\] = 8 is not an integer id in \[0, 8\) \(the text vocabulary has 8 rows\)/,
      );
      await expect(bad('tokens', [1, -1, 2])).rejects.toThrow(/'tokens'\[1\] = -1 is not an integer id/);
      await expect(bad('tokens', [1, 2.5, 2])).rejects.toThrow(/'tokens'\[1\] = 2\.5 is not an integer id/);
      await expect(bad('mask', [1, 0.5, 0])).rejects.toThrow(/'mask'\[1\] = 0\.5 is not 0 or 1/);
      await expect(bad('mask', [0, 0, 0])).rejects.toThrow(/input 'mask' row 0 keeps no token \(all zero\)/);
      await expect(
        bad(
          'image',
          Float32Array.from({ length: 256 }, (_, i) => (i === 7 ? Number.NaN : 0)),
        ),
      ).rejects.toThrow(/'image'\[7\] = NaN is not finite/);
    } finally {
      art.destroy();
    }
  });

  it('refuses kernel files outside kernels/ and a plan that disagrees with its kernels, naming them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-art-'));
    writeArtifact(
      dir,
      buildArtifact(spec, { mode: 'infer', batch: 2, buckets: [2], profile: profileOf(gpu()) }).meta,
      runtimeIndex,
    );
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
    const variant = variantOf(dir, plan);
    const k0 = plan.plans[0].plan;
    // Edited without compile: the digest says so, whatever the edit.
    const edited = mkdtempSync(join(tmpdir(), 'pg-art-'));
    cpSync(dir, edited, { recursive: true });
    writeFileSync(
      join(edited, 'plan.json'),
      JSON.stringify({ ...plan, batch: plan.batch }).replace('"workgroups":[', '"workgroups": ['),
    );
    await expect(Artifact.load(gpu(), edited, 'random')).rejects.toThrow(
      /plan\.json, a kernel or a bundled file changed after compile \(sha256 \w+, plan\.sha256 says \w+\): recompile/,
    );
    await expect(
      Artifact.load(
        gpu(),
        variant((p) => (p.plans[0].plan.kernels[0].file = '../../../../etc/passwd')),
        'random',
      ),
    ).rejects.toThrow(
      /kernel 0 names the file "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd": kernel files are plain names under kernels\//,
    );
    await expect(
      Artifact.load(
        gpu(),
        variant((p) => (p.plans[0].plan.kernels[1].workgroups = [0, 1, 1])),
        'random',
      ),
    ).rejects.toThrow(/kernel 1 dispatches 0 x 1 x 1 workgroups/);
    await expect(
      Artifact.load(
        gpu(),
        variant((p) => p.plans[0].plan.bindings[0].pop()),
        'random',
      ),
    ).rejects.toThrow(/kernel 0 \(kernels\/.*\.wgsl\) declares \d+ storage bindings, the plan binds \d+/);
    const param = Object.keys(k0.params)[0];
    // The param's slot pointed at the plan's smallest buffer: too small to hold it.
    const bytes = k0.buffers.map((b: { bytes: number }) => b.bytes);
    const smallest = bytes.indexOf(Math.min(...bytes));
    await expect(
      Artifact.load(
        gpu(),
        variant((p) => (p.plans[0].plan.params[param].buffer = smallest)),
        'random',
      ),
    ).rejects.toThrow(
      new RegExp(
        `param '${param.replaceAll('.', '\\.')}' \\[[\\d,]+\\] needs \\d+ bytes, its buffer ${smallest} has ${bytes[smallest]}`,
      ),
    );
  });

  it('the runtime entry point imports no compiler or trainer code, and no package but webgpu, zod and the input encoders', () => {
    const graph = importGraph(runtimeIndex);
    const seen = [...graph.edges.keys()];
    const packages = graph.packages;
    const compiler = [...seen].filter((f) => /\/src\/(compiler|dsl|train|hf|cli)\//.test(f));
    expect(compiler).toEqual([]);
    // Of the data readers, only what turns an image, a question and logits into inputs and answers (runtime/vqa-model.ts).
    const data = [...seen].filter((f) => f.includes('/src/data/')).map((f) => f.replace(/.*\/src\/data\//, ''));
    expect(data.sort()).toEqual([
      'answers.ts',
      'errors.ts',
      'image-decode.ts',
      'image.ts',
      'pixels.ts',
      'resize.ts',
      'tokenizer.ts',
    ]);
    expect([...packages].sort()).toEqual(['@huggingface', 'sharp', 'webgpu', 'zod']);
    // Benchmark data and the test runner are no dependencies of the library.
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
    for (const dev of ['mnist', 'vitest', 'typescript', '@biomejs/biome'])
      expect(Object.keys(pkg.dependencies), dev).not.toContain(dev);
    expect(seen.length).toBeGreaterThan(5);
  });
});
