/**
 * Loading a compiled artifact (`peftgraph compile --out DIR`): plan.json (validated by zod,
 * versioned) and one .wgsl file per kernel. Compiler-free: an app or a CI runner can run a
 * model without src/compiler or ts-morph. Mismatches (format version, adapter limits, weights)
 * fail with what differs.
 */
import { UserError } from '../user-error.ts';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { z } from 'zod';
import type { Plan } from '../compiler/plan.ts';
import type { Gpu } from './device.ts';
import { Executor, type HostArray } from './executor.ts';
import { initParamList } from './init.ts';
import { StepRunner, type StepResult } from './step-runner.ts';

export const ARTIFACT_FORMAT = 'peftgraph-artifact-1';

const int = z.number().int().nonnegative();
const Slot = z.object({ buffer: int, shape: z.array(int), dtype: z.enum(['f32', 'f16', 'i32', 'u32']) });

export const ArtifactSchema = z.object({
  format: z.literal(ARTIFACT_FORMAT),
  mode: z.enum(['train', 'infer']),
  batch: int,
  merged: z.boolean(),
  requires: z.object({ maxStorageBuffersPerShaderStage: int, maxStorageBufferBindingSize: int, maxBufferSize: int, maxComputeWorkgroupsPerDimension: int, f16: z.boolean() }),
  params: z.array(z.object({ name: z.string(), shape: z.array(int), trainable: z.boolean(), init: z.any() })),
  plan: z.object({
    kernels: z.array(z.object({ name: z.string(), kind: z.string(), file: z.string(), root: int, nodes: z.array(int), reads: z.array(int), workgroups: z.tuple([int, int, int]) })),
    buffers: z.array(z.object({ id: int, bytes: int, role: z.enum(['param', 'input', 'const', 'output', 'temp']), label: z.string() })),
    params: z.record(z.string(), Slot),
    inputs: z.record(z.string(), Slot),
    outputs: z.record(z.string(), Slot),
    constants: z.array(z.object({ buffer: int, value: z.array(z.number()), dtype: z.enum(['f32', 'f16', 'i32', 'u32']) })),
    bindings: z.array(z.array(int)),
    stats: z.any(),
  }),
  step: z
    .object({
      spec: z.object({ optimizer: z.any(), lr: z.number(), schedule: z.any(), totalSteps: int }),
      layout: z.object({
        params: z.array(z.string()),
        state: z.array(z.string()),
        lossNames: z.array(z.string()),
        writeBack: z.array(z.tuple([z.string(), z.object({ kind: z.enum(['params', 'inputs']), name: z.string() })])),
      }),
    })
    .optional(),
});
export type ArtifactJson = z.infer<typeof ArtifactSchema>;

export class ArtifactError extends UserError {
  constructor(dir: string, msg: string) {
    super(`artifact ${dir}: ${msg}`);
    this.name = 'ArtifactError';
  }
}

export type Weights = Record<string, ArrayLike<number>>;

export class Artifact {
  private constructor(
    readonly meta: ArtifactJson,
    readonly ex: Executor,
    readonly trainer: StepRunner | null,
  ) {}

  /**
   * Loads an artifact with its weights (every param, by name and size: merged.safetensors for a
   * merged inference artifact). `'random'` runs freshly initialized weights (seeded), on purpose:
   * without weights an artifact would otherwise answer with random ones and say nothing.
   */
  static async load(gpu: Gpu, dir: string | URL, weights: Weights | 'random', seed = 0): Promise<Artifact> {
    const root = typeof dir === 'string' ? dir : fileURLToPath(dir);
    if (weights === undefined || weights === null)
      throw new ArtifactError(root, "no weights given: pass every param (e.g. the merged.safetensors train writes), or 'random' to run initialized weights deliberately");
    const meta = readMeta(root);
    checkDevice(root, meta, gpu);
    const kernels = meta.plan.kernels.map((k) => ({ ...k, kind: k.kind as Plan['kernels'][number]['kind'], wgsl: readFileSync(join(root, k.file), 'utf8') }));
    const plan = { ...meta.plan, kernels } as Plan;
    const ex = await Executor.create(gpu, plan);
    const values = weights === 'random' ? initParamList(meta.params, seed) : checkWeights(root, meta, weights);
    for (const p of meta.params) if (plan.params[p.name]) ex.setParam(p.name, values[p.name]);
    const trainer = meta.step ? new StepRunner(ex, meta.step.layout, meta.step.spec) : null;
    return new Artifact(meta, ex, trainer);
  }

  /** Inference: runs the plan once and returns every output. */
  run(inputs: Record<string, ArrayLike<number>>): Promise<Record<string, HostArray>> {
    return this.ex.run(
      inputs,
      Object.keys(this.meta.plan.outputs).filter((k) => !k.startsWith('new:')),
    );
  }

  /** Training: one step (forward, backward, optimizer) on a batch. */
  step(batch: Record<string, ArrayLike<number>>, seed: number): Promise<StepResult> {
    if (!this.trainer) throw new Error('this artifact was compiled for inference (--mode infer); compile with --mode train to train');
    return this.trainer.submit(batch, seed);
  }

  readWeights(): Promise<Record<string, Float32Array>> {
    return this.ex.readSlots('params', Object.keys(this.meta.plan.params));
  }

  destroy(): void {
    this.ex.destroy();
  }
}

function readMeta(dir: string): ArtifactJson {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
  } catch (e) {
    throw new ArtifactError(dir, `cannot read plan.json (${(e as Error).message.split('\n')[0]})`);
  }
  const format = (raw as { format?: unknown })?.format;
  if (format !== ARTIFACT_FORMAT) {
    throw new ArtifactError(dir, `format ${JSON.stringify(format)}, but this runtime reads '${ARTIFACT_FORMAT}': recompile with \`peftgraph compile\``);
  }
  const r = ArtifactSchema.safeParse(raw);
  if (!r.success)
    throw new ArtifactError(
      dir,
      `plan.json is malformed: ${r.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')}`,
    );
  return r.data;
}

function checkDevice(dir: string, meta: ArtifactJson, gpu: Gpu): void {
  const problems: string[] = [];
  for (const [k, need] of Object.entries(meta.requires)) {
    if (k === 'f16') continue;
    const have = gpu.limits[k] ?? 0;
    if ((need as number) > have) problems.push(`${k}: needs ${need}, the adapter has ${have}`);
  }
  const biggest = Math.max(0, ...meta.plan.buffers.map((b) => b.bytes));
  if (biggest > (gpu.limits.maxStorageBufferBindingSize ?? Infinity)) problems.push(`a ${biggest}-byte buffer exceeds maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}`);
  if (meta.requires.f16 && !gpu.hasF16) problems.push('needs shader-f16, which the adapter lacks');
  if (problems.length)
    throw new ArtifactError(
      dir,
      `was compiled for a device this adapter (${gpu.info.description}) does not match:\n  ${problems.join('\n  ')}\n  recompile on this machine with \`peftgraph compile\``,
    );
}

function checkWeights(dir: string, meta: ArtifactJson, w: Weights): Weights {
  const known = new Map(meta.params.map((p) => [p.name, p]));
  const problems: string[] = [];
  for (const [name, v] of Object.entries(w)) {
    const p = known.get(name);
    const n = p?.shape.reduce((a, b) => a * b, 1);
    if (!p) problems.push(`'${name}' is not a param of this artifact`);
    else if (v.length !== n) problems.push(`'${name}' has ${v.length} values, the artifact's [${p.shape}] needs ${n}`);
  }
  for (const p of meta.params) if (!(p.name in w)) problems.push(`'${p.name}' [${p.shape}] is missing`);
  if (problems.length) throw new ArtifactError(dir, `weights do not match:\n  ${problems.slice(0, 10).join('\n  ')}${problems.length > 10 ? `\n  ... ${problems.length - 10} more` : ''}`);
  return w;
}
