/**
 * Writing artifacts: plan.json (the runtime's zod schema, versioned), one .wgsl per kernel, and
 * model.ts, a TypeScript module generated with ts-morph that names every input, output and
 * param with its shape as literal types, and a typed `load()`.
 */
import { STEP_INPUTS } from '../step-inputs.ts';
import { makeDirs, readChunks } from '../runtime/files.ts';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModuleKind, Project, ScriptTarget, VariableDeclarationKind } from 'ts-morph';
import { SpecError, type ModelSpec } from '../dsl/spec.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import { compile } from '../compiler/compile.ts';
import type { DeviceProfile, PlanOptions, Plan, TensorSlot } from '../compiler/plan.ts';
import { compileStep, type StepConfig } from '../train/train-step.ts';
import { kvPlans } from '../train/kv-generate.ts';
import { encodeKernel } from '../compiler/kernel/serialize.ts';
import { ARTIFACT_FORMAT, artifactDigest, BUNDLE, DIGEST_FILE, type ArtifactJson } from '../runtime/artifact.ts';
import { encodeSafetensors, writeAtomic } from '../runtime/safetensors.ts';
import { exampleInputs } from '../train/validate.ts';
import { paramInfo } from '../compiler/ir/attrs.ts';

export interface CompileArtifactOptions {
  mode: 'train' | 'infer';
  /** The batch of a training artifact; the largest batch of an inference artifact. */
  batch: number;
  /** Inference: the batch sizes to plan for (default: powers of two below `batch`, and `batch`). */
  buckets?: number[];
  merged?: boolean;
  profile: DeviceProfile;
  /** Plan options for every plan (the autotuner's matmul choices). */
  plan?: PlanOptions;
  step?: StepConfig;
  /** Module specifier the generated model.ts imports the runtime from. */
  runtimeImport?: string;
  /** A captioning model's beam width: its decoder plans have this many rows (default 3; 1 decodes greedily). */
  beam?: number;
}

type Bucket = { batch: number; plan: Plan };
type Meta = Omit<ArtifactJson, 'plans' | 'generate'> & {
  plans: Bucket[];
  generate?: { width: number; prefill: Bucket; step: Bucket };
};

/** 1, 2, 4, ... below `max`, then `max`: a request pads to at most twice its size. */
export function defaultBuckets(max: number): number[] {
  const out: number[] = [];
  for (let b = 1; b < max; b *= 2) out.push(b);
  return [...out, max];
}

function checkBuckets(buckets: number[], max: number): number[] {
  const sorted = [...new Set(buckets)].sort((a, b) => a - b);
  if (sorted.some((b) => !Number.isInteger(b) || b < 1 || b > max) || sorted.at(-1) !== max)
    throw new SpecError(
      `buckets ${JSON.stringify(buckets)}: each a whole number from 1 to the batch (${max}), the batch among them`,
    );
  return sorted;
}

export function buildArtifact(spec: ModelSpec, o: CompileArtifactOptions): { meta: Meta } {
  const { graph } = lowerModel(spec, { batch: o.batch, mode: o.mode, merged: o.merged });
  // The value rules of every input a caller feeds, as train checks datasets (checked on each request).
  const inputRules = Object.fromEntries([...exampleInputs(graph, spec)].map(([k, v]) => [k, v.rule]));
  // Inference with a decoder after a visual prefix: generation starts from no text at all.
  if (o.mode === 'infer' && spec.text?.kind === 'decoder' && spec.visualPrefix !== 'none' && inputRules.mask)
    inputRules.mask = { kind: 'mask', empty: true };
  const params = [...graph.params()].map(([name, n]) => ({
    name,
    shape: [...n.shape],
    trainable: paramInfo(n).trainable,
    init: paramInfo(n).init,
  }));
  const requires = { ...o.profile, f16: false } as ArtifactJson['requires'] & Record<string, unknown>;
  delete (requires as Record<string, unknown>).isSoftware;
  if (o.mode === 'train') {
    const step = o.step ?? {
      optimizer: { kind: 'adamw', clip: 5 },
      lr: 5e-3,
      schedule: { kind: 'linear', warmup: 0.05 },
      totalSteps: 1000,
    };
    const { plan, layout } = compileStep(graph, o.profile, { ...step, plan: o.plan });
    return {
      meta: {
        format: ARTIFACT_FORMAT,
        mode: 'train',
        batch: o.batch,
        merged: false,
        requires: { ...requires, f16: plan.stats.halfActivations },
        params,
        inputRules,
        plans: [{ batch: o.batch, plan }],
        bundle: [],
        step: { spec: step, layout },
      },
    };
  }
  // A deployed model takes no targets and computes no loss.
  const plans = checkBuckets(o.buckets ?? defaultBuckets(o.batch), o.batch).map((batch) => ({
    batch,
    plan: compile(spec, { batch, mode: 'infer', merged: o.merged, loss: false, profile: o.profile, plan: o.plan }).plan,
  }));
  const f16 = plans.some((p) => p.plan.stats.halfActivations);
  return {
    meta: {
      format: ARTIFACT_FORMAT,
      mode: 'infer',
      batch: o.batch,
      merged: !!o.merged,
      requires: { ...requires, f16 },
      params,
      inputRules,
      bundle: [],
      ...taskOf(spec),
      plans,
      ...generatePlans(spec, o),
    },
  };
}

/** A captioning model's KV-cached decoder plans (train/kv-generate.ts), `beam` rows each. */
function generatePlans(spec: ModelSpec, o: CompileArtifactOptions): Pick<Meta, 'generate'> {
  const text = spec.text?.kind;
  if (spec.head.kind !== 'lm' || (text !== 'decoder' && text !== 'encdec') || !spec.vision) return {};
  const width = o.beam ?? 3;
  if (!Number.isInteger(width) || width < 1) throw new SpecError(`beam width ${width}: a whole number >= 1`);
  const p = kvPlans(spec, width, o.profile, o.plan, o.merged);
  return { generate: { width, prefill: { batch: width, plan: p.prefill }, step: { batch: width, plan: p.step } } };
}

/** What the runtime's bundled model needs: to encode a question and an image, and name the answers or decode a caption. */
function taskOf(spec: ModelSpec): Pick<Meta, 'task'> {
  const { vision, text, head } = spec;
  if (!vision || !text) return {};
  const picture = { channels: vision.channels, image: vision.image };
  if (head.kind === 'classifier')
    return { task: { kind: 'vqa', loss: head.loss, answers: head.answers, maxLen: text.maxLen, ...picture } };
  if (head.kind === 'lm' && text.kind === 'decoder')
    return {
      task: {
        kind: 'caption',
        maxLen: text.maxLen,
        vocab: text.vocab,
        prefixed: spec.visualPrefix !== 'none',
        ...picture,
      },
    };
  // An encoder-decoder captions with its decoder (targetLen positions) over its encoder's output.
  if (head.kind === 'lm' && text.kind === 'encdec')
    return {
      task: {
        kind: 'caption',
        maxLen: text.targetLen,
        vocab: text.vocab,
        prefixed: spec.visualPrefix !== 'none',
        encoder: { maxLen: text.maxLen },
        ...picture,
      },
    };
  return {};
}

/** What an artifact bundles so that inference needs nothing else (each file bound by the digest). */
export interface ArtifactBundle {
  /** Every param's values (merged ones for a merged artifact): weights.safetensors. */
  weights?: Record<string, Float32Array>;
  /** The answer classes in head order: answers.json. */
  answers?: readonly string[];
  /** The directory whose tokenizer files are copied to tokenizer/. */
  tokenizer?: string;
  /** The directory whose preprocessor_config.json is copied to processor/. */
  processor?: string;
}

/** The files TextTokenizer.fromDir and ImageProcessor.fromDir read. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'config.json'];
const PROCESSOR_FILES = ['preprocessor_config.json'];

function writeBundle(dir: string, meta: Meta, b: ArtifactBundle): string[] {
  const files: string[] = [];
  if (b.weights) {
    const tensors = new Map(
      meta.params.map((p) => {
        const v = b.weights![p.name];
        if (!v) throw new SpecError(`bundle: no value for param '${p.name}'`);
        return [p.name, { shape: p.shape, data: v }] as const;
      }),
    );
    writeAtomic(join(dir, BUNDLE.weights), encodeSafetensors(tensors, { format: 'peftgraph-weights-1' }));
    files.push(BUNDLE.weights);
  }
  if (b.answers) {
    writeFileSync(join(dir, BUNDLE.answers), JSON.stringify(b.answers));
    files.push(BUNDLE.answers);
  }
  for (const [sub, from, names] of [
    [BUNDLE.tokenizer, b.tokenizer, TOKENIZER_FILES],
    [BUNDLE.processor, b.processor, PROCESSOR_FILES],
  ] as const) {
    if (!from) continue;
    makeDirs(join(dir, sub));
    for (const f of names) {
      if (!existsSync(join(from, f))) continue;
      copyFileSync(join(from, f), join(dir, sub, f));
      files.push(`${sub}/${f}`);
    }
  }
  return files;
}

/**
 * Writes the artifact; returns the files written (relative to `dir`). A kernel's file is named by
 * its content, so the buckets share the kernels whose code does not depend on the batch.
 */
export function writeArtifact(
  dir: string,
  meta: Meta,
  runtimeImport = 'peftgraph/runtime',
  bundle: ArtifactBundle = {},
): string[] {
  // A previous artifact in `dir` goes first: its kernels and bundled files would linger beside the new ones.
  if (existsSync(join(dir, 'plan.json')))
    for (const f of [
      'kernels',
      BUNDLE.tokenizer,
      BUNDLE.processor,
      BUNDLE.weights,
      BUNDLE.answers,
      'plan.json',
      DIGEST_FILE,
      'model.ts',
      'model.js',
      'model.d.ts',
      'package.json',
    ])
      rmSync(join(dir, f), { recursive: true, force: true });
  makeDirs(join(dir, 'kernels'));
  meta = { ...meta, bundle: writeBundle(dir, meta, bundle) };
  const files = new Set<string>();
  const written = ({ batch, plan }: { batch: number; plan: Plan }) => {
    const kernels = plan.kernels.map((k) => {
      // Kernels of one structure share a shader (their sizes differ): one file for all of them.
      const file = `kernels/${k.kind}_${createHash('sha256').update(k.wgsl).digest('hex').slice(0, 12)}.wgsl`;
      if (!files.has(file)) writeFileSync(join(dir, file), k.wgsl);
      files.add(file);
      const { wgsl: _src, variant: _v, ir, ...rest } = k;
      // The description the WGSL was rendered from stays with it (plain JSON: kernel/serialize.ts).
      return { ...rest, file, ...(ir ? { description: encodeKernel(ir) } : {}) };
    });
    return { batch, plan: { ...plan, kernels } };
  };
  const plans = meta.plans.map(written);
  const generate = meta.generate && {
    width: meta.generate.width,
    prefill: written(meta.generate.prefill),
    step: written(meta.generate.step),
  };
  const planText = JSON.stringify({ ...meta, plans, ...(generate ? { generate } : {}) });
  writeFileSync(join(dir, 'plan.json'), planText);
  // The runtime refuses a plan or kernel edited after this (artifact.ts checkDigest).
  const kernels = new Map([...files].map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
  // Bundled files hashed in chunks: weights can be larger than one buffer.
  const digest = artifactDigest(planText, kernels, meta.bundle, (f, h) =>
    readChunks(join(dir, f), 'bundled file', Number.POSITIVE_INFINITY, (c) => h.update(c)),
  );
  writeFileSync(join(dir, DIGEST_FILE), `${digest}\n`);
  const module = emitModule(meta, runtimeImport);
  writeFileSync(join(dir, 'model.ts'), module.ts);
  writeFileSync(join(dir, 'model.js'), module.js);
  writeFileSync(join(dir, 'model.d.ts'), module.dts);
  // model.js is an ES module: without this, node reads it as CommonJS inside a default (`npm init`) project.
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ type: 'module', private: true }, null, 2)}\n`);
  return ['plan.json', DIGEST_FILE, 'model.ts', 'model.js', 'model.d.ts', 'package.json', ...meta.bundle, ...files];
}

const ARRAY: Record<TensorSlot['dtype'], string> = {
  f32: 'Float32Array',
  f16: 'Float32Array',
  i32: 'Int32Array',
  u32: 'Uint32Array',
};

/** Inputs the caller provides (optimizer inputs and state are the runtime's business). */
function userInputs(meta: Meta): [string, TensorSlot][] {
  const internal = new Set<string>([
    ...Object.values(STEP_INPUTS),
    ...(meta.step?.layout.packs.flatMap((p) => p.state) ?? []),
  ]);
  return Object.entries(meta.plans.at(-1)!.plan.inputs).filter(([k]) => !internal.has(k));
}

/**
 * model.ts, and the same module compiled for plain node (model.js, ES2022 modules) with its
 * declarations (model.d.ts): an app imports it without a TypeScript loader.
 */
export function emitModule(meta: Meta, runtimeImport: string): { ts: string; js: string; dts: string } {
  const project = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: {
      target: ScriptTarget.ES2022,
      module: ModuleKind.ES2022,
      declaration: true,
      strict: true,
      skipLibCheck: true,
      noResolve: true,
    },
  });
  const f = project.createSourceFile('model.ts');
  f.addStatements('// Generated by `peftgraph compile`: do not edit. Shapes are literal types; load() is typed.');
  f.addImportDeclaration({
    moduleSpecifier: runtimeImport,
    namedImports: ['Artifact', { name: 'Gpu', isTypeOnly: true }, { name: 'StepResult', isTypeOnly: true }],
  });
  const lit = (o: unknown) => JSON.stringify(o);
  const slots = (entries: [string, TensorSlot][]) =>
    `{\n${entries.map(([k, s]) => `  ${lit(k)}: { shape: ${lit(s.shape)}, dtype: ${lit(s.dtype)} },`).join('\n')}\n}`;
  const inputs = userInputs(meta);
  const outputs = Object.entries(meta.plans.at(-1)!.plan.outputs).filter(([k]) => !k.startsWith('new:'));
  f.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: 'mode', initializer: `${lit(meta.mode)} as const` }],
  });
  // Inference takes 1..maxBatch examples per call (shapes below are at maxBatch); training exactly maxBatch.
  f.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: 'maxBatch', initializer: `${meta.batch} as const` }],
  });
  f.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: 'buckets', initializer: `${lit(meta.plans.map((p) => p.batch))} as const` }],
  });
  f.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: 'inputs', initializer: `${slots(inputs)} as const` }],
  });
  f.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: 'outputs', initializer: `${slots(outputs)} as const` }],
  });
  f.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [
      {
        name: 'params',
        initializer: `{\n${meta.params.map((p) => `  ${lit(p.name)}: { shape: ${lit(p.shape)}, trainable: ${p.trainable} },`).join('\n')}\n} as const`,
      },
    ],
  });
  f.addInterface({
    name: 'Inputs',
    isExported: true,
    properties: inputs.map(([k, s]) => ({ name: lit(k), type: ARRAY[s.dtype], isReadonly: true })),
  });
  f.addInterface({
    name: 'Outputs',
    isExported: true,
    properties: outputs.map(([k, s]) => ({ name: lit(k), type: ARRAY[s.dtype] })),
  });
  f.addTypeAlias({ name: 'ParamName', isExported: true, type: 'keyof typeof params' });
  // A captioning model also generates: beam search over its KV cache (the tokenizer's end-of-sequence and pad ids given).
  const generate = meta.generate
    ? ` generate(image: Inputs["image"], o: { eos: number; pad: number; ${meta.task?.kind === 'caption' && meta.task.encoder ? 'text: ArrayLike<number>' : 'prompt?: ArrayLike<number>'}; lengthPenalty?: number }): Promise<{ ids: number[]; score?: number }>;`
    : '';
  const api =
    meta.mode === 'train'
      ? '{ step(batch: Inputs, seed: number): Promise<StepResult>; readWeights(): Promise<Record<ParamName, Float32Array>>; destroy(): void }'
      : `{ run(inputs: Inputs): Promise<Outputs>;${generate} destroy(): void }`;
  f.addTypeAlias({ name: 'Model', isExported: true, type: api });
  f.addFunction({
    name: 'load',
    isExported: true,
    isAsync: true,
    parameters: [
      { name: 'gpu', type: 'Gpu' },
      // Bundled weights make the argument optional; a string is a safetensors path, or 'random'.
      {
        name: 'weights',
        type: 'Record<ParamName, Float32Array> | string',
        hasQuestionToken: meta.bundle.includes(BUNDLE.weights),
      },
    ],
    returnType: 'Promise<Model>',
    statements:
      meta.mode === 'train'
        ? [
            "const a = await Artifact.load(gpu, new URL('.', import.meta.url), weights);",
            'return { step: (b, seed) => a.step({ ...b }, seed), readWeights: () => a.readWeights() as Promise<Record<ParamName, Float32Array>>, destroy: () => a.destroy() };',
          ]
        : [
            "const a = await Artifact.load(gpu, new URL('.', import.meta.url), weights);",
            `return { run: (x) => a.run({ ...x }) as unknown as Promise<Outputs>,${meta.generate ? ' generate: (image, o) => a.generate(image, o),' : ''} destroy: () => a.destroy() };`,
          ],
  });
  f.formatText({ indentSize: 2 });
  const out = project.emitToMemory();
  const text = (ext: string) => out.getFiles().find((x) => x.filePath.endsWith(ext))?.text;
  const js = text('/model.js');
  const dts = text('/model.d.ts');
  if (js === undefined || dts === undefined) throw new Error('emitModule: ts-morph emitted no model.js / model.d.ts');
  return { ts: f.getFullText(), js, dts };
}
