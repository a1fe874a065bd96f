/**
 * Loading a compiled artifact (`peftgraph compile --out DIR`): plan.json (validated by zod,
 * versioned) and its kernels' .wgsl files. Compiler-free: an app or a CI runner can run a
 * model without src/compiler or ts-morph. Mismatches (format version, adapter limits, weights)
 * fail with what differs.
 *
 * An inference artifact holds one plan per batch bucket (1, 2, 4, ... up to its maximum, chosen
 * at compile time): a request of n examples runs on the smallest bucket >= n, padded here by
 * repeating its last example, and the outputs come back with n rows. The buckets' executors share
 * one copy of the weights and are created on first use.
 *
 * Files come through an ArtifactSource (host-types.ts): a directory in node, a URL in a browser.
 * Everything is read, hashed and checked before the first GPU buffer is made.
 */
import { STEP_INPUTS } from '../step-inputs.ts';
import { decodeSafetensors, type SafeTensors } from './safetensors-format.ts';
import { FILE_LIMITS, parseJson } from './file-limits.ts';
import { host } from './host.ts';
import type { ArtifactSource, Hasher } from './host-types.ts';
import { UserError } from '../user-error.ts';
import { z } from 'zod';
import type { Plan } from '../compiler/plan.ts';
import type { Gpu } from './device.ts';
import { Executor, type GpuExecutor, type HostArray } from './executor.ts';
import { CachedDecoder } from './kv-decode.ts';
import { decodeOne } from './caption.ts';
import { planNeeds, unmetNeeds } from './plan-needs.ts';
import { initialValues } from './init.ts';
import { StepRunner, type StepResult } from './step-runner.ts';
import { InputRule, valuesProblem } from './input-rules.ts';

export const ARTIFACT_FORMAT = 'peftgraph-artifact-8';

/**
 * Files an artifact may bundle beside its plan, each bound by the digest: the weights, the
 * tokenizer's and image processor's files (copied from the spec's directories) and the answer
 * classes. With them, inference needs nothing but the artifact directory and the runtime.
 */
export const BUNDLE = {
  weights: 'weights.safetensors',
  answers: 'answers.json',
  tokenizer: 'tokenizer',
  processor: 'processor',
} as const;
const BUNDLED = /^(weights\.safetensors|answers\.json|(tokenizer|processor)\/[A-Za-z0-9_][A-Za-z0-9_.-]*)$/;

const int = z.number().int().nonnegative();
const Slot = z.object({
  buffer: int,
  shape: z.array(int),
  dtype: z.enum(['f32', 'f16', 'i32', 'u32']),
  storage: z.enum(['bf16', 'f16']).optional(),
});

const PlanSchema = z.object({
  kernels: z.array(
    z.object({
      name: z.string(),
      kind: z.string(),
      file: z.string(),
      root: int,
      siblings: z.array(int).optional(),
      nodes: z.array(int),
      reads: z.array(int),
      sizes: z.array(z.number().int().min(0).max(0xffffffff)),
      workgroups: z.tuple([int, int, int]),
      storage: z.array(z.enum(['f32', 'f16', 'bf16', 'i32', 'u32'])).optional(),
      spans: z.array(int).optional(),
      /** The backend-neutral description the WGSL was rendered from (compiler/kernel/serialize.ts), kept as data. */
      description: z.object({ nodes: z.array(z.unknown()), kernel: z.unknown() }).optional(),
    }),
  ),
  buffers: z.array(
    z.object({
      id: int,
      bytes: int,
      role: z.enum(['param', 'input', 'const', 'output', 'temp', 'pack']),
      label: z.string(),
      view: z.object({ of: int, offset: int }).optional(),
    }),
  ),
  params: z.record(z.string(), Slot),
  inputs: z.record(z.string(), Slot),
  outputs: z.record(z.string(), Slot),
  constants: z.array(
    z.object({ buffer: int, value: z.array(z.number()), dtype: z.enum(['f32', 'f16', 'i32', 'u32']) }),
  ),
  bindings: z.array(z.array(int)),
  stats: z.any(),
});

export const ArtifactSchema = z.object({
  format: z.literal(ARTIFACT_FORMAT),
  mode: z.enum(['train', 'infer']),
  batch: int,
  merged: z.boolean(),
  requires: z.object({
    maxStorageBuffersPerShaderStage: int,
    maxStorageBufferBindingSize: int,
    maxBufferSize: int,
    maxComputeWorkgroupsPerDimension: int,
    f16: z.boolean(),
  }),
  params: z.array(z.object({ name: z.string(), shape: z.array(int), trainable: z.boolean(), init: z.any() })),
  /** What each caller-fed input's values must be (runtime/input-rules.ts): checked on every request. */
  inputRules: z.record(z.string(), InputRule),
  /** The files bundled beside the plan (BUNDLE's names), each in the digest. */
  bundle: z.array(
    z
      .string()
      .regex(BUNDLED, 'a bundled file: weights.safetensors, answers.json, tokenizer/<file> or processor/<file>'),
  ),
  /** What a VQA or captioning model needs to turn an image (and a question) into inputs, and logits into answers or a caption. */
  task: z
    .discriminatedUnion('kind', [
      z.strictObject({
        kind: z.literal('vqa'),
        loss: z.enum(['bce', 'ce']),
        answers: int,
        maxLen: int,
        channels: int,
        image: z.tuple([int, int]),
      }),
      // Greedy decoding's settings (the tokenizer bundled beside it says where a sequence ends).
      z.strictObject({
        kind: z.literal('caption'),
        /** The decoder's text positions (GPT-2's maxLen, T5's targetLen). */
        maxLen: int,
        vocab: int,
        prefixed: z.boolean(),
        channels: int,
        image: z.tuple([int, int]),
        /** An encoder-decoder (T5): its encoder's text length; the decoder starts from its start id (the pad id). */
        encoder: z.strictObject({ maxLen: int }).optional(),
      }),
    ])
    .optional(),
  /** One plan per batch size, ascending; a training artifact has one. */
  plans: z.array(z.object({ batch: int, plan: PlanSchema })).min(1),
  /**
   * A captioning model's KV-cached decoder (runtime/kv-decode.ts): the prefill and step plans,
   * each of `width` rows (the beam width; 1 decodes greedily).
   */
  generate: z
    .object({
      width: int,
      prefill: z.object({ batch: int, plan: PlanSchema }),
      step: z.object({ batch: int, plan: PlanSchema }),
    })
    .optional(),
  step: z
    .object({
      spec: z.object({ optimizer: z.any(), lr: z.number(), schedule: z.any(), totalSteps: int }),
      layout: z.object({
        params: z.array(z.string()),
        state: z.array(z.string()),
        packs: z.array(
          z.object({
            name: z.string(),
            elements: int,
            members: z.array(z.object({ param: z.string(), offset: int, numel: int })),
            kinds: z.array(z.string()),
            state: z.array(z.string()),
          }),
        ),
        normRows: z.array(int),
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

/**
 * The weights a caller gave `load`, as a record: a record of arrays as it is, a path read as
 * safetensors, the bundled file when none is given; anything else is named in the error.
 */
async function weightRecord(dir: string, w: unknown, bundled: Map<string, Uint8Array>): Promise<Weights | 'random'> {
  if (w === 'random') return w;
  if (w === undefined || w === null) {
    const bytes = bundled.get(BUNDLE.weights);
    if (bytes) {
      // Decoded once; the raw bytes are not kept beside the values.
      bundled.delete(BUNDLE.weights);
      const t = decodeSafetensors(host.join(dir, BUNDLE.weights), bytes);
      return Object.fromEntries([...t.tensors].map(([k, v]) => [k, v.data]));
    }
    throw new ArtifactError(
      dir,
      "no weights given, and none bundled: pass a safetensors path or a record of every param (e.g. the merged.safetensors train writes), compile with --adapter to bundle them, or pass 'random' to run initialized weights deliberately",
    );
  }
  if (typeof w === 'string') {
    let t: SafeTensors;
    try {
      t = decodeSafetensors(w, await host.readFile(w, 'weights', FILE_LIMITS.weights));
    } catch (e) {
      // File errors start with the path already; the format's name the file as a checkpoint.
      const m = (e as Error).message;
      throw new ArtifactError(dir, m.startsWith(w) ? `weights ${m}` : `weights ${w}: ${m}`);
    }
    return Object.fromEntries([...t.tensors].map(([k, v]) => [k, v.data]));
  }
  if (typeof w !== 'object' || Array.isArray(w) || ArrayBuffer.isView(w) || w instanceof Map)
    throw new ArtifactError(
      dir,
      `weights: expected a safetensors file path, a record of param name -> Float32Array, or 'random'; got ${Array.isArray(w) ? 'an array' : ArrayBuffer.isView(w) ? 'a typed array' : w instanceof Map ? 'a Map (Object.fromEntries turns one into a record)' : typeof w}`,
    );
  for (const [k, v] of Object.entries(w as Record<string, unknown>))
    if (!ArrayBuffer.isView(v) && !Array.isArray(v))
      throw new ArtifactError(
        dir,
        `weights: '${k}' is ${v === null ? 'null' : typeof v}, not an array of values (a Float32Array)`,
      );
  return w as Weights;
}

type Bucket = ArtifactJson['plans'][number];

/** Where an artifact is, as a source of its files: a source as given, else the host's (a directory in node, a URL in a browser). */
export function artifactSource(where: string | URL | ArtifactSource): ArtifactSource {
  return typeof where === 'object' && 'read' in where ? where : host.source(where);
}

export class Artifact {
  private readonly executors = new Map<number, Promise<GpuExecutor>>();
  private readonly smaller: GpuExecutor[] = [];

  private constructor(
    readonly meta: ArtifactJson,
    readonly root: string,
    private readonly gpu: Gpu,
    /** The largest bucket's executor: it holds the weights the others share. */
    readonly ex: GpuExecutor,
    readonly trainer: StepRunner | null,
    /** Each kernel file's WGSL, by its name in the plans. */
    private readonly kernelText: Map<string, string>,
    /** The bundled files but the weights (tokenizer, processor, answers), as read and hashed at load. */
    readonly bundled: ReadonlyMap<string, Uint8Array>,
  ) {
    this.executors.set(meta.plans.at(-1)!.batch, Promise.resolve(ex));
  }

  /**
   * Loads an artifact with its weights (every param, by name and size): a record of arrays, a
   * safetensors path (merged.safetensors for a merged inference artifact), or none for the bundled
   * weights.safetensors. `'random'` runs freshly initialized weights (seeded), on purpose: without
   * weights an artifact would otherwise answer with random ones and say nothing.
   *
   * `where` is a directory (node), a URL (fetched in a browser; a file: URL in node), or any
   * ArtifactSource; a weights path is read the same way.
   */
  static async load(
    gpu: Gpu,
    where: string | URL | ArtifactSource,
    weights?: Weights | string,
    seed = 0,
  ): Promise<Artifact> {
    const source = artifactSource(where);
    const root = source.name;
    const planText = await readPlanText(source);
    const meta = parseMeta(root, planText);
    const keepWeights = weights === undefined || weights === null;
    const { kernels, bundled } = await checkDigest(source, meta, planText, keepWeights);
    checkDevice(root, meta, gpu, kernels);
    checkSlots(root, meta);
    const given = await weightRecord(root, weights, bundled);
    // Random weights only for the params a plan binds (their shapes were checked against the plan's slots).
    const planned = new Set(meta.plans.flatMap((p) => Object.keys(p.plan.params)));
    const values =
      given === 'random'
        ? initialValues(
            meta.params.filter((p) => planned.has(p.name)),
            seed,
          )
        : checkWeights(root, meta, given);
    const ex = await Executor.create(
      gpu,
      planOf(root, meta.plans.at(-1)!, kernels, gpu.limits.maxComputeWorkgroupsPerDimension),
    );
    for (const p of meta.params) if (ex.plan.params[p.name]) ex.setParam(p.name, values[p.name]);
    const trainer = meta.step ? new StepRunner(ex, meta.step.layout, meta.step.spec) : null;
    await trainer?.ready;
    return new Artifact(meta, root, gpu, ex, trainer, kernels, bundled);
  }

  /** The KV-cached decoder of a captioning artifact, made on first use. */
  private decoding: Promise<CachedDecoder> | null = null;
  private decoded: CachedDecoder | null = null;

  /**
   * A captioning artifact's KV-cached decoder (runtime/kv-decode.ts): its prefill and step plans
   * over this artifact's weight buffers (none copied), `generate.width` rows (the beam width).
   */
  decoder(): Promise<CachedDecoder> {
    const g = this.meta.generate;
    const task = this.meta.task;
    if (!g || task?.kind !== 'caption')
      throw new ArtifactError(
        this.root,
        'has no decoder plans: compile a captioning model (an LM head over GPT-2 or T5, with a vision tower) for inference',
      );
    this.decoding ??= (async () => {
      const max = this.gpu.limits.maxComputeWorkgroupsPerDimension;
      const made: GpuExecutor[] = [];
      try {
        made.push(
          await Executor.create(this.gpu, planOf(this.root, g.prefill, this.kernelText, max), undefined, {
            paramsFrom: this.ex,
          }),
        );
        made.push(
          await Executor.create(this.gpu, planOf(this.root, g.step, this.kernelText, max), undefined, {
            paramsFrom: made[0],
          }),
        );
        // Every weight the decoder reads is the artifact's own buffer: one it does not share would read as zeros.
        for (const ex of made) {
          const alone = Object.keys(ex.plan.params).filter((k) => !ex.sharedParams.has(k));
          if (alone.length)
            throw new ArtifactError(
              this.root,
              `decoder plan params not among the artifact's weights: ${alone.slice(0, 3).join(', ')}`,
            );
        }
        // T5's decoder reads its prompt (the start id) from its target inputs.
        const prompt = task.encoder ? { prompt: { tokens: 'targetTokens', mask: 'targetMask' } } : {};
        this.decoded = await CachedDecoder.over(made[0], made[1], {
          maxLen: task.maxLen,
          vocab: task.vocab,
          ...prompt,
        });
        return this.decoded;
      } catch (e) {
        // Nothing half-made stays behind, and the next call tries again.
        for (const ex of made.reverse()) ex.destroy();
        this.decoding = null;
        throw e;
      }
    })();
    return this.decoding;
  }

  /**
   * A captioning artifact's generation at the tensor level: `image` (one example, [C, H, W])
   * continued after `o.prompt` ids, by beam search of the compiled width (greedy at width 1);
   * `eos` and `pad` are the bundled tokenizer's (model.ts's generate() passes them). An
   * encoder-decoder also takes `o.text`, its encoder's ids (the tokenizer's encoding of the text,
   * of '' for a caption), and its decoder starts from the pad id (T5's decoder_start_token_id).
   */
  async generate(
    image: Float32Array,
    o: { eos: number; pad: number; prompt?: ArrayLike<number>; lengthPenalty?: number; text?: ArrayLike<number> },
  ): Promise<{ ids: number[]; score?: number }> {
    const dec = await this.decoder();
    const task = this.meta.task as Extract<NonNullable<ArtifactJson['task']>, { kind: 'caption' }>;
    const want = this.meta.plans.at(-1)!.plan.inputs.image;
    const size = want ? want.shape.slice(1).reduce((a, b) => a * b, 1) : 0;
    const bad = (msg: string) => new ArtifactError(this.root, `generate: ${msg}`);
    if (image.length !== size)
      throw bad(`image has ${image.length} values, the model takes ${size} ([${want?.shape.slice(1)}])`);
    // The image by the rules every request is checked with (finite pixels).
    this.checkValues({ image }, this.meta.plans.at(-1)!);
    const ids = (what: string, v: number) => {
      if (!Number.isInteger(v) || v < 0 || v >= task.vocab)
        throw bad(`${what} ${v} is not a token id (0 to ${task.vocab - 1})`);
      return v;
    };
    ids('eos', o.eos);
    ids('pad', o.pad);
    const prompt = Array.from(o.prompt ?? [], (v, i) => ids(`prompt[${i}]`, v));
    const inputs: Record<string, Float32Array | Int32Array> = { image };
    if (task.encoder) {
      const L = task.encoder.maxLen;
      if (!o.text) throw bad(`an encoder-decoder needs o.text: its encoder's ids (at most ${L}; of '' for a caption)`);
      if (o.prompt !== undefined)
        throw bad("an encoder-decoder's decoder starts from its start id: its text goes in o.text, not a prompt");
      const text = Array.from(o.text, (v, i) => ids(`text[${i}]`, v));
      if (text.length > L) throw bad(`text has ${text.length} ids, the encoder takes at most ${L}`);
      inputs.tokens = new Int32Array(L).fill(o.pad);
      inputs.tokens.set(text);
      inputs.mask = new Float32Array(L).fill(1, 0, text.length);
      // The decoder starts from its start id, the pad id as T5 has it.
      prompt.push(o.pad);
    } else if (o.text !== undefined)
      throw bad("o.text is an encoder-decoder's encoder text; this decoder LM takes a prompt");
    // Without a prefix nothing predicts the first token: start from end-of-sequence, as caption() does.
    if (prompt.length === 0 && !task.prefixed) prompt.push(o.eos);
    if (dec.maxTokens(prompt.length) < 1)
      throw bad(`the prompt takes ${prompt.length} tokens, leaving none of maxLen ${task.maxLen} to generate`);
    if (o.lengthPenalty !== undefined && !Number.isFinite(o.lengthPenalty))
      throw bad(`lengthPenalty is ${o.lengthPenalty}; it takes a finite number`);
    return decodeOne(dec, inputs, prompt, o);
  }

  /** The batch sizes this artifact has plans for (a request of up to the last runs without padding by the caller). */
  get buckets(): number[] {
    return this.meta.plans.map((p) => p.batch);
  }

  /**
   * Inference: runs `inputs` (each holding n examples, 1 <= n <= the maximum batch) on the
   * smallest bucket that fits and returns every output with n rows.
   */
  async run(inputs: Record<string, ArrayLike<number>>): Promise<Record<string, HostArray>> {
    const n = this.examples(inputs);
    this.checkValues(inputs, this.meta.plans.at(-1)!);
    const bucket = this.meta.plans.find((p) => p.batch >= n)!;
    const ex = await this.executor(bucket);
    const padded = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, padRows(v, n, bucket.batch)]));
    const names = Object.keys(bucket.plan.outputs).filter((k) => !k.startsWith('new:'));
    const out = await this.guarded(() => ex.run(padded, names)).catch((e) => {
      // The inputs were checked against the plan: the executor refusing them means plan.json contradicts itself.
      if (e instanceof UserError) throw e;
      throw new ArtifactError(this.root, `plan.json does not hold together (${(e as Error).message})`);
    });
    return Object.fromEntries(
      names.map((k) => [
        k,
        bucket.plan.outputs[k].shape[0] === bucket.batch ? takeRows(out[k], n, bucket.batch) : out[k],
      ]),
    );
  }

  /** Training: one step (forward, backward, optimizer) on a batch. */
  step(batch: Record<string, ArrayLike<number>>, seed: number): Promise<StepResult> {
    if (!this.trainer)
      throw new Error('this artifact was compiled for inference (--mode infer); compile with --mode train to train');
    this.checkValues(batch, this.meta.plans[0]);
    const trainer = this.trainer;
    return this.guarded(() => trainer.submit(batch, seed));
  }

  /** Every caller-fed value against its rule (ids in the vocabulary, 0/1 masks keeping a token, finite pixels). */
  private checkValues(inputs: Record<string, ArrayLike<number>>, b: Bucket): void {
    for (const [k, v] of Object.entries(inputs)) {
      const rule = this.meta.inputRules[k];
      const slot = b.plan.inputs[k];
      if (!rule || !slot) continue;
      const bad = valuesProblem(
        rule,
        v,
        slot.shape.slice(1).reduce((a, c) => a * c, 1),
      );
      if (bad) throw new ArtifactError(this.root, `input '${k}'${bad.startsWith('[') ? bad : ` ${bad}`}`);
    }
  }

  /** Runs `f`; a WebGPU error Dawn reported meanwhile, or a lost device, becomes a thrown error instead of zeros. */
  private async guarded<T>(f: () => Promise<T>): Promise<T> {
    const before = this.gpu.uncapturedErrors.length;
    const out = await f();
    const lost = this.gpu.lostReason();
    if (lost) throw new Error(`artifact ${this.root}: the GPU device was lost while it ran (${lost})`);
    const errors = this.gpu.uncapturedErrors.slice(before);
    if (errors.length)
      throw new Error(
        `artifact ${this.root}: WebGPU reported ${errors.length} error${errors.length > 1 ? 's' : ''} while it ran: ${errors[0].split('\n')[0]}`,
      );
    return out;
  }

  readWeights(): Promise<Record<string, Float32Array>> {
    return this.ex.readSlots('params', Object.keys(this.ex.plan.params));
  }

  destroy(): void {
    // The decoder and the smaller buckets own no weight buffers; the largest one's go last. A
    // decoder still being made is destroyed when it is done.
    this.decoded?.destroy();
    if (!this.decoded) this.decoding?.then((d) => d.destroy()).catch(() => undefined);
    for (const x of this.smaller) x.destroy();
    this.ex.destroy();
  }

  private executor(bucket: Bucket): Promise<GpuExecutor> {
    let e = this.executors.get(bucket.batch);
    if (!e) {
      e = Executor.create(
        this.gpu,
        planOf(this.root, bucket, this.kernelText, this.gpu.limits.maxComputeWorkgroupsPerDimension),
        undefined,
        { paramsFrom: this.ex },
      ).then((x) => {
        this.smaller.push(x);
        return x;
      });
      this.executors.set(bucket.batch, e);
    }
    return e;
  }

  /** How many examples `inputs` hold; every input named, consistent and within the largest bucket. */
  private examples(inputs: Record<string, ArrayLike<number>>): number {
    const top = this.meta.plans.at(-1)!;
    const want = Object.keys(top.plan.inputs).filter((k) => !INTERNAL.has(k));
    const missing = want.filter((k) => !(k in inputs));
    const unknown = Object.keys(inputs).filter((k) => !want.includes(k));
    if (missing.length || unknown.length)
      throw new ArtifactError(
        this.root,
        `inputs ${[missing.length ? `missing: ${missing.join(', ')}` : '', unknown.length ? `not inputs of this model: ${unknown.join(', ')}` : ''].filter(Boolean).join('; ')} (it takes ${want.join(', ')})`,
      );
    let n = -1;
    for (const k of want) {
      const shape = top.plan.inputs[k].shape;
      const per = shape.slice(1).reduce((a, b) => a * b, 1);
      const len = inputs[k].length;
      const rows = len / per;
      if (!Number.isInteger(rows) || rows < 1)
        throw new ArtifactError(
          this.root,
          `input '${k}' has ${len} values: expected a whole number of examples of ${per} values ([n, ${shape.slice(1)}])`,
        );
      if (n >= 0 && rows !== n)
        throw new ArtifactError(this.root, `input '${k}' holds ${rows} examples, the others ${n}`);
      n = rows;
    }
    if (n > top.batch)
      throw new ArtifactError(
        this.root,
        `${n} examples exceed the artifact's maximum batch ${top.batch}: split the request, or recompile with a larger --batch`,
      );
    return n;
  }
}

/** Inputs the runtime feeds itself (step artifacts). */
const INTERNAL = new Set<string>(Object.values(STEP_INPUTS));

/**
 * A bucket's plan with its kernels' WGSL. A kernel's file must be a plain name of a .wgsl file in
 * the artifact's kernels/ folder (never a path out of it), and the plan must agree with what it
 * binds and dispatches: each kernel binds as many storage buffers as its WGSL declares, every
 * binding and view names a buffer that exists and lies inside its buffer, every dispatch is at
 * least one workgroup and within the adapter's per-dimension limit.
 */
function planOf(root: string, b: Bucket, texts: Map<string, string>, maxPerDim = Number.POSITIVE_INFINITY): Plan {
  const p = b.plan;
  const bad = (msg: string) => new ArtifactError(root, `plan.json (batch ${b.batch}): ${msg}`);
  const kernels = p.kernels.map((k, i) => {
    if (!/^kernels\/[A-Za-z0-9_.-]+\.wgsl$/.test(k.file) || k.file.includes('..'))
      throw bad(`kernel ${i} names the file ${JSON.stringify(k.file)}: kernel files are plain names under kernels/`);
    const wgsl = texts.get(k.file);
    if (wgsl === undefined) throw bad(`kernel ${i}: ${k.file} was not read at load`);
    const storage = (wgsl.match(/var<storage,/g) ?? []).length;
    if (storage !== p.bindings[i]?.length)
      throw bad(
        `kernel ${i} (${k.file}) declares ${storage} storage bindings, the plan binds ${p.bindings[i]?.length ?? 0}`,
      );
    for (const id of p.bindings[i])
      if (!p.buffers[id]) throw bad(`kernel ${i} binds buffer ${id}, which the plan does not have`);
    if (k.workgroups.some((w) => w < 1 || w > maxPerDim))
      throw bad(`kernel ${i} dispatches ${k.workgroups.join(' x ')} workgroups (each 1 to ${maxPerDim})`);
    return { ...k, kind: k.kind as Plan['kernels'][number]['kind'], wgsl };
  });
  p.buffers.forEach((x, i) => {
    if (x.id !== i) throw bad(`buffer ${i} says it is buffer ${x.id}`);
    const of = x.view ? p.buffers[x.view.of] : undefined;
    if (x.view && (!of || of.view || x.view.offset + x.bytes > of.bytes))
      throw bad(`buffer ${i} is a view outside buffer ${x.view.of}`);
  });
  for (const [kind, slots] of [
    ['param', p.params],
    ['input', p.inputs],
    ['output', p.outputs],
  ] as const)
    for (const [name, s] of Object.entries(slots)) {
      const need = s.shape.reduce((a, c) => a * c, 1) * (s.storage ? 2 : 4);
      if (!p.buffers[s.buffer] || p.buffers[s.buffer].bytes < need)
        throw bad(
          `${kind} '${name}' [${s.shape}] needs ${need} bytes, its buffer ${s.buffer} has ${p.buffers[s.buffer]?.bytes ?? 'none'}`,
        );
    }
  return { ...p, kernels } as Plan;
}

/** `x` with n rows, grown to `rows` by repeating its last row (the extra rows' outputs are dropped). */
function padRows(x: ArrayLike<number>, n: number, rows: number): ArrayLike<number> {
  if (n === rows) return x;
  const per = x.length / n;
  const out = new (x instanceof Int32Array ? Int32Array : x instanceof Uint32Array ? Uint32Array : Float32Array)(
    per * rows,
  );
  out.set(x as ArrayLike<number>);
  for (let r = n; r < rows; r++) out.copyWithin(r * per, (n - 1) * per, n * per);
  return out;
}

function takeRows(x: HostArray, n: number, rows: number): HostArray {
  return n === rows ? x : x.slice(0, (x.length / rows) * n);
}

const utf8 = new TextDecoder();

async function readPlanText(source: ArtifactSource): Promise<string> {
  try {
    return utf8.decode(await source.read('plan.json', 'plan', FILE_LIMITS.json));
  } catch (e) {
    throw new ArtifactError(source.name, `cannot read plan.json (${(e as Error).message.split('\n')[0]})`);
  }
}

/** plan.json's text as an artifact's metadata: its format version, then its schema, each refused with what differs. */
export function parseMeta(dir: string, planText: string): ArtifactJson {
  let raw: unknown;
  try {
    raw = parseJson(planText, host.join(dir, 'plan.json'));
  } catch (e) {
    throw new ArtifactError(dir, `cannot read plan.json (${(e as Error).message.split('\n')[0]})`);
  }
  const format = (raw as { format?: unknown })?.format;
  if (format !== ARTIFACT_FORMAT) {
    throw new ArtifactError(
      dir,
      `format ${JSON.stringify(format)}, but this runtime reads '${ARTIFACT_FORMAT}': recompile with \`peftgraph compile\``,
    );
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

/** The file holding an artifact's digest: sha256 over plan.json and its kernel files. */
export const DIGEST_FILE = 'plan.sha256';

/**
 * What the digest hashes, in order: plan.json's text, then each kernel file and each bundled file
 * (once each, by name, each after its name); a bundled file's content is `{ file }`, fed by the
 * caller (compile reads it in chunks; load has it in memory, or streams weights it will not keep).
 */
function digestParts(
  planText: string,
  kernels: ReadonlyMap<string, string>,
  bundle: readonly string[],
): (string | { file: string })[] {
  const parts: (string | { file: string })[] = [planText];
  for (const name of [...kernels.keys()].sort()) parts.push(`\0${name}\0`, kernels.get(name)!);
  for (const name of [...bundle].sort()) parts.push(`\0${name}\0`, { file: name });
  return parts;
}

/** sha256 over plan.json's text, the kernel files it names and the files it bundles (`feed` hashes one). */
export function artifactDigest(
  planText: string,
  kernels: ReadonlyMap<string, string>,
  bundle: readonly string[] = [],
  feed: (file: string, h: Hasher) => void = () => {},
): string {
  const h = host.sha256();
  for (const p of digestParts(planText, kernels, bundle)) typeof p === 'string' ? h.update(p) : feed(p.file, h);
  return h.digest();
}

/**
 * An artifact is what `compile` wrote: plan.json and its kernels must hash to plan.sha256. A hand
 * edit that passes the schema (swapped bindings, other sizes) would otherwise run and answer
 * garbage. Kernel names are checked to be plain files under kernels/ before any is read.
 */
/** Every plan of an artifact: its batch buckets, and a captioning model's decoder plans. */
export function allPlans<B>(meta: { plans: B[]; generate?: { prefill: B; step: B } }): B[] {
  return [...meta.plans, ...(meta.generate ? [meta.generate.prefill, meta.generate.step] : [])];
}

/** Checks the digest over plan.json, the kernels and the bundle; returns each kernel file's WGSL and the bundled files. */
async function checkDigest(
  source: ArtifactSource,
  meta: ArtifactJson,
  planText: string,
  keepWeights: boolean,
): Promise<{ kernels: Map<string, string>; bundled: Map<string, Uint8Array> }> {
  const dir = source.name;
  const read = async (file: string, what: string, max: number) => {
    try {
      return await source.read(file, what, max);
    } catch (e) {
      throw new ArtifactError(dir, (e as Error).message);
    }
  };
  const kernels = new Map<string, string>();
  for (const { batch, plan } of allPlans(meta))
    for (const [i, k] of plan.kernels.entries()) {
      if (!/^kernels\/[A-Za-z0-9_.-]+\.wgsl$/.test(k.file) || k.file.includes('..'))
        throw new ArtifactError(
          dir,
          `plan.json (batch ${batch}): kernel ${i} names the file ${JSON.stringify(k.file)}: kernel files are plain names under kernels/`,
        );
      if (!kernels.has(k.file)) kernels.set(k.file, '');
    }
  // Fetched together: over HTTP one at a time would pay a round trip per kernel.
  await Promise.all(
    [...kernels.keys()].map(async (f) => kernels.set(f, utf8.decode(await read(f, 'kernel file', FILE_LIMITS.wgsl)))),
  );
  // The digest first: a missing one fails before any large file is read.
  let want: string;
  try {
    want = utf8.decode(await source.read(DIGEST_FILE, 'digest', 1024)).trim();
  } catch (e) {
    throw new ArtifactError(
      dir,
      `${(e as Error).message}: an artifact holds the digest compile wrote; recompile with \`peftgraph compile\``,
    );
  }
  // Bundled files are kept (the model reads them), but for weights the caller replaces: those are
  // only hashed, streamed where the source can.
  const streamed = keepWeights ? undefined : BUNDLE.weights;
  const bundled = new Map<string, Uint8Array>();
  await Promise.all(
    meta.bundle
      .filter((f) => f !== streamed)
      .map(async (f) => {
        bundled.set(f, await read(f, 'bundled file', f === BUNDLE.weights ? FILE_LIMITS.weights : FILE_LIMITS.json));
      }),
  );
  const h = host.sha256();
  for (const p of digestParts(planText, kernels, meta.bundle)) {
    if (typeof p === 'string') h.update(p);
    else if (bundled.has(p.file)) h.update(bundled.get(p.file)!);
    else if (source.stream)
      try {
        await source.stream(p.file, 'bundled file', FILE_LIMITS.weights, (c) => h.update(c));
      } catch (e) {
        throw new ArtifactError(dir, (e as Error).message);
      }
    else h.update(await read(p.file, 'bundled file', FILE_LIMITS.weights));
  }
  const got = h.digest();
  if (got !== want)
    throw new ArtifactError(
      dir,
      `plan.json, a kernel or a bundled file changed after compile (sha256 ${got.slice(0, 12)}, ${DIGEST_FILE} says ${want.slice(0, 12)}): recompile with \`peftgraph compile\``,
    );
  return { kernels, bundled };
}

/** Every plan's param slots have the shapes the artifact's params declare, and every declared param a slot. */
function checkSlots(dir: string, meta: ArtifactJson): void {
  const declared = new Map(meta.params.map((p) => [p.name, p.shape.join(',')]));
  const batches = meta.plans.map((p) => p.batch);
  if (batches.some((b, i) => b < 1 || (i > 0 && b <= batches[i - 1])) || batches.at(-1) !== meta.batch)
    throw new ArtifactError(
      dir,
      `plan.json: batches ${JSON.stringify(batches)} must rise from 1 or more to the artifact's batch ${meta.batch}`,
    );
  const perExample = new Map<string, string>();
  for (const { batch, plan } of meta.plans) {
    // Caller-fed inputs are batch-major, with the same example shape in every bucket.
    for (const name of Object.keys(meta.inputRules)) {
      const s = plan.inputs[name];
      if (!s)
        throw new ArtifactError(
          dir,
          `plan.json (batch ${batch}): no input '${name}', which the artifact checks requests for`,
        );
      const rest = s.shape.slice(1).join(',');
      if (s.shape[0] !== batch || (perExample.has(name) && perExample.get(name) !== rest))
        throw new ArtifactError(
          dir,
          `plan.json (batch ${batch}): input '${name}' has shape [${s.shape}], not [${batch}, ${perExample.get(name) ?? rest}]`,
        );
      perExample.set(name, rest);
    }
  }
  // A captioning model's decoder plans hold `width` rows each.
  const g = meta.generate;
  if (g && (g.prefill.batch !== g.width || g.step.batch !== g.width))
    throw new ArtifactError(
      dir,
      `plan.json: the decoder's plans have ${g.prefill.batch} and ${g.step.batch} rows, its width is ${g.width}`,
    );
  for (const { batch, plan } of allPlans(meta)) {
    for (const [name, s] of Object.entries(plan.params)) {
      const want = declared.get(name);
      if (want === undefined)
        throw new ArtifactError(dir, `plan.json (batch ${batch}): param '${name}' is not among the artifact's params`);
      if (s.shape.join(',') !== want)
        throw new ArtifactError(
          dir,
          `plan.json (batch ${batch}): param '${name}' has shape [${s.shape}], the artifact declares [${want}]`,
        );
    }
  }
}

/**
 * The adapter covers what the artifact's plans use (runtime/plan-needs.ts): bindings, ranges and
 * buffers, workgroups, workgroup sizes, offsets' alignment, shader-f16. Not the limits of the
 * device it was compiled on: those are `requires`, a record of what the plans were made for.
 */
function checkDevice(dir: string, meta: ArtifactJson, gpu: Gpu, kernels: Map<string, string>): void {
  const plans = allPlans(meta).map(({ plan }) => ({
    ...plan,
    kernels: plan.kernels.map((k) => ({ workgroups: k.workgroups, wgsl: kernels.get(k.file) ?? '' })),
  }));
  let needs: ReturnType<typeof planNeeds>;
  try {
    needs = planNeeds(plans);
  } catch (e) {
    throw new ArtifactError(dir, `a kernel this runtime cannot size: ${(e as Error).message}`);
  }
  if (meta.requires.f16 && !needs.features.includes('shader-f16')) needs.features.push('shader-f16');
  const problems = unmetNeeds(needs, gpu.limits, gpu.features);
  if (problems.length)
    throw new ArtifactError(
      dir,
      `needs more than this adapter (${gpu.info.description}) gives:\n  ${problems.join('\n  ')}\n  recompile on this machine with \`peftgraph compile\``,
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
  const missing = meta.params.filter((p) => !(p.name in w));
  for (const p of missing) problems.push(`'${p.name}' [${p.shape}] is missing`);
  if (problems.length) {
    // What the weights probably are, and which artifact they fit.
    const names = Object.keys(w);
    const hint = names.some((n) => n.startsWith('optimizer/'))
      ? "these are a training checkpoint (trainable weights and optimizer state): pass the run's merged.safetensors to an artifact compiled with --merged, or compile with --adapter <run> to bundle the weights"
      : meta.merged
        ? 'this artifact is merged (compiled with --merged): it takes merged.safetensors as train writes it'
        : 'this artifact is not merged: its PEFT modules are params of their own, so it takes every param: compile with --adapter <run> to bundle them; merged.safetensors fits an artifact compiled with --merged';
    throw new ArtifactError(
      dir,
      `weights do not match (${hint}):\n  ${problems.slice(0, 10).join('\n  ')}${problems.length > 10 ? `\n  ... ${problems.length - 10} more` : ''}`,
    );
  }
  return w;
}
