/**
 * The trainer: epochs of seeded batches through a compiled TrainStep, evaluation every N
 * epochs on a dev set with an inference plan, early stopping, best and last checkpoints, exact
 * resume. Losses are read back asynchronously; the trainer awaits them only at epoch ends.
 */
import { planImport, planInit, pretrainedWeights } from '../hf/import.ts';
import type { FrozenWeights } from '../compiler/plan.ts';
import { makeDirs } from '../runtime/files.ts';
import { randomUUID } from 'node:crypto';
import { lockDir } from '../runtime/out-lock.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import type { OptimizerConfig } from '../compiler/optimizer.ts';
import type { PlanOptions } from '../compiler/plan.ts';
import { compile } from '../compiler/compile.ts';
import type { Graph } from '../compiler/ir/graph.ts';
import { validateDataset } from './validate.ts';
import { diagnoseStep } from './diagnose.ts';
import { paramReport } from '../compiler/params-report.ts';

/** Above this many weights the float64 replay of a failed step would take too long. */
const DIAGNOSE_MAX_PARAMS = 2_000_000;
import { backboneIdentity, checkIdentity, type BackboneIdentity, type InputsIdentity } from './identity.ts';
import type { Gpu } from '../runtime/device.ts';
import { Executor } from '../runtime/executor.ts';
import { profileOf } from '../runtime/profile.ts';
import { NonFiniteError, TrainStep, type StepResult } from './train-step.ts';
import type { Schedule } from '../runtime/schedule.ts';
import { epochBatches, makeBatch, type Dataset } from '../runtime/batches.ts';
import { cacheFeatures, type CacheReport } from './feature-cache.ts';
import { planFeatureCache, residentTables } from './feature-plan.ts';
import { tunedPlanOptions } from './autotune.ts';
import type { FrozenSplit } from '../compiler/passes/frozen.ts';
import { initialWeights } from '../runtime/init.ts';
import { classifierLossAt, exactMatch, vqaAccuracy } from '../runtime/metrics.ts';
import { answersEos, scoreGenerated, scoreGeneratedTexts } from './generate.ts';
import { captionPrompt, scoreCaptions, type CaptionEvaluation } from './caption-eval.ts';
import { type CachedDecoder, KvDecoder } from './kv-generate.ts';
import { tokenizerFor } from '../data/encoders.ts';
import { DataError } from '../data/errors.ts';
import { emptyScore, scoreNextTokens, scoreTargets } from './lm-score.ts';
import { valuesOf, weightLength, type WeightMap } from '../runtime/half.ts';
import { loadCheckpoint, saveCheckpoint } from '../runtime/checkpoint.ts';
import { CheckpointError, removeStaleTemps, writeFailure } from '../runtime/safetensors.ts';
import { dirname, join } from 'node:path';
import { StepLog } from './step-log.ts';
import { z } from 'zod';
import { checkPartialConfig, checkTrainConfig } from './train-config.ts';
import { existsSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { pcgHash } from '../compiler/ops/random.ts';
import { paramInfo } from '../compiler/ir/attrs.ts';

export interface TrainConfig {
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  optimizer: OptimizerConfig;
  schedule: Schedule;
  /** Evaluate on the dev set every N epochs (and after the last). */
  evalEvery: number;
  /** Stop after this many evaluations without improvement (0: never). */
  patience: number;
  minDelta: number;
  /** Checkpoints (best.safetensors, last.safetensors) go here when set. */
  outDir?: string;
  /**
   * Frozen backbone weights (e.g. a pretrained checkpoint); missing ones come from
   * initialWeights(graph, seed). A name the model lacks or a wrong size is an error (a checkpoint of another
   * model would otherwise leave layers random), unless `ignoreUnknownBackbone` is set.
   */
  backbone?: WeightMap;
  /**
   * What turned raw files into the datasets (answer classes, tokenizer, image processor; identity.ts
   * inputsIdentity): recorded in every checkpoint, checked on resume, eval and predict.
   */
  inputs?: InputsIdentity;
  ignoreUnknownBackbone?: boolean;
  resume?: string;
  /** Resume even if the checkpoint's frozen weights or spec differ from these (the refusal says what differs). */
  allowMismatch?: boolean;
  plan?: PlanOptions;
  /**
   * Compute the frozen part that reads only per-example inputs (e.g. a frozen vision tower) once
   * per training example and train from the stored features (passes/frozen.ts): same losses and
   * gradients, less work per step. Default on; off when it would not fit CACHE_MAX_BYTES.
   */
  cacheFrozen?: boolean;
  /** Keep the cached features on the device when they fit (default), else stream them per batch. */
  cacheOnDevice?: boolean;
  /**
   * Matmul kernels: 'cache' (default) takes the autotuner's cached choice for this adapter
   * (.peftgraph-cache/autotune.json) where it has one, 'run' first times the shapes it lacks,
   * 'off' keeps the profile's defaults.
   */
  autotune?: 'cache' | 'run' | 'off';
  /** Checked at epoch ends: once aborted, the trainer saves last.safetensors and returns. */
  signal?: AbortSignal;
}

/**
 * A full TrainConfig from the fields a caller sets, the rest at the CLI's defaults (AdamW with
 * weight decay 0.01 and clip 5, linear schedule with 5% warmup, dev evaluation every epoch).
 */
export function trainConfig(o: Partial<TrainConfig> = {}): TrainConfig {
  checkPartialConfig(o);
  return {
    epochs: 10,
    batch: 16,
    lr: 5e-3,
    seed: 42,
    optimizer: { kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 },
    schedule: { kind: 'linear', warmup: 0.05 },
    evalEvery: 1,
    patience: 0,
    minDelta: 0,
    ...o,
  };
}

export interface EpochRecord {
  epoch: number;
  step: number;
  loss: number;
  losses: Record<string, number>;
  dev?: { loss: number; accuracy: number; exactMatch: number };
  seconds: number;
}

export interface TrainResult {
  /** What was trained: saveAdapter(dir, result) writes it with the weights. */
  spec: ModelSpec;
  /** The init seed of the frozen weights no pretrained directory supplied. */
  seed: number;
  /** The answer classes, tokenizer and image processor the data went through (cfg.inputs). */
  inputs: InputsIdentity;
  /** Examples in the train and dev splits. */
  examples: { train: number; dev?: number };
  history: EpochRecord[];
  /** The frozen weights trained on (what checkpoints and adapters record). */
  identity: BackboneIdentity;
  /** The best dev evaluation; `epoch` indexes `history` (from 0: the CLI and cards print it from 1). */
  best: { epoch: number; accuracy: number } | null;
  bestWeights: Record<string, Float32Array>;
  stoppedEarly: boolean;
}

export interface TrainEvents {
  /** The frozen features were cached (or why not, when caching was asked for and not done). */
  onCache?(r: CacheReport | { skipped: string }): void;
  /** Matmul kernels came from the autotuner's cache (`tuned` shape classes timed in this run). */
  onTuning?(r: { tuned: number; classes: number }): void;
  onStep?(r: StepResult, epoch: number, stepInEpoch: number, stepsPerEpoch: number): void;
  onEpoch?(r: EpochRecord): void;
}

/** Integer labels [count] as one-hot rows [count, classes]. */
function oneHotRows(labels: ArrayLike<number>, classes: number, count: number): Float32Array {
  const t = new Float32Array(count * classes);
  for (let i = 0; i < count; i++) t[i * classes + labels[i]] = 1;
  return t;
}

/** What `accuracy` and `exactMatch` of an evaluation measure for this spec's head. */
export function metricName(spec: ModelSpec, captions = false): { accuracy: string; exactMatch: string } {
  if (spec.head.kind === 'lm' && captions) return { accuracy: 'CIDEr-D', exactMatch: 'BLEU-4' };
  if (spec.head.kind === 'lm' && spec.text?.kind === 'decoder')
    return { accuracy: 'next-token accuracy', exactMatch: 'whole-text match' };
  return { accuracy: 'VQA accuracy', exactMatch: 'exact match' };
}

/** An evaluation's result; a captioning split adds its caption scores and the generated captions. */
export interface Evaluation {
  loss: number;
  accuracy: number;
  exactMatch: number;
  captions?: CaptionEvaluation['captions'];
}

/** One line of an evaluation's result, as train and eval print it. */
export function formatEvaluation(
  split: string,
  metric: { accuracy: string; exactMatch: string },
  r: { loss: number; accuracy: number; exactMatch: number },
  examples: number,
): string {
  return `${split}: ${metric.accuracy} ${r.accuracy.toFixed(4)}, ${metric.exactMatch} ${r.exactMatch.toFixed(4)}, loss ${r.loss.toFixed(4)} (${examples} examples)`;
}

export function stepSeed(seed: number, step: number): number {
  return pcgHash((pcgHash(seed >>> 0) ^ step) >>> 0);
}

/**
 * Evaluates `weights` on a dataset with an inference plan: mean task loss, accuracy and exact
 * match (VQA accuracy for a classifier or an encoder-decoder's generated answers; next-token
 * accuracy for a decoder-only LM: metricName()).
 */
export class Evaluator {
  /** Frozen features per dataset, with the frozen weight arrays they were computed from. */
  private readonly cached = new WeakMap<Dataset, { data: Dataset; from: Map<string, WeightMap[string]> }>();
  private weights: WeightMap = {};
  /** Times the frozen features were computed (for tests and reports). */
  cacheFills = 0;

  private constructor(
    private readonly gpu: Gpu,
    readonly ex: Executor,
    readonly batch: number,
    readonly answers: number,
    private readonly graph: Graph,
    private readonly spec: ModelSpec,
    /** The frozen split when evaluation reads cached features (train's dev set), else null. */
    private readonly split: FrozenSplit | null,
    private readonly plan?: PlanOptions,
  ) {}

  /**
   * `loss: false` compiles the deployed graph (no targets, no loss): for prediction, not evaluate().
   * `cacheFor`: evaluate a dataset of about that many examples repeatedly (train's dev set): the
   * frozen per-example part runs once per dataset (while the frozen weights stay the same arrays).
   */
  static async create(
    gpu: Gpu,
    spec: ModelSpec,
    batch: number,
    plan?: PlanOptions,
    loss = true,
    cacheFor?: number,
  ): Promise<Evaluator> {
    const forward = lowerModel(spec, { batch, mode: 'infer', loss }).graph;
    const split = cacheFor ? planFeatureCache(forward, batch, cacheFor, { residentBytes: 0 }).split : null;
    const c = compile(split?.step ?? forward, { batch, mode: 'infer', profile: profileOf(gpu), plan, loss });
    const ex = await Executor.create(gpu, c.plan);
    return new Evaluator(
      gpu,
      ex,
      batch,
      spec.head.kind === 'classifier' ? spec.head.answers : 0,
      forward,
      spec,
      split,
      plan,
    );
  }

  setWeights(w: WeightMap): void {
    for (const name of Object.keys(this.ex.plan.params)) if (w[name]) this.ex.setParam(name, w[name]);
    this.weights = { ...this.weights, ...w };
  }

  /**
   * Every param the plan reads has been given a value: a missing one would evaluate as zeros. The
   * towers the spec names as pretrained, and its init files, load themselves, as in train(): a caller may set only the
   * trained weights (and the init of any random frozen part).
   */
  private checkSet(): void {
    const needed = [...Object.keys(this.ex.plan.params), ...(this.split ? this.split.features.params().keys() : [])];
    let missing = [...new Set(needed)].filter((k) => !this.weights[k]);
    if (missing.length && (this.spec.vision?.pretrained || this.spec.text?.pretrained || this.spec.init.length)) {
      const pre = pretrainedBackbone(this.spec, this.graph, this.plan?.frozenWeights);
      const fill = Object.fromEntries(missing.filter((k) => pre[k]).map((k) => [k, pre[k]]));
      this.setWeights(fill);
      missing = missing.filter((k) => !fill[k]);
    }
    if (missing.length)
      throw new CheckpointError(
        'evaluation weights',
        `${missing.length} param${missing.length > 1 ? 's have' : ' has'} no value (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}); setWeights() takes the base weights (baseWeights(spec, graph, seed), or loadAdapter(dir).weights) and the trained ones`,
      );
  }

  /** `ds` as the plan reads it: with its frozen features when evaluation caches them. */
  private async data(ds: Dataset): Promise<Dataset> {
    if (!this.split) return ds;
    const frozen = [...this.split.features.params().keys()];
    const hit = this.cached.get(ds);
    if (hit && frozen.every((k) => hit.from.get(k) === this.weights[k])) return hit.data;
    const { data } = await cacheFeatures(this.gpu, this.split, ds, this.weights, this.batch, this.plan);
    this.cacheFills++;
    this.cached.set(ds, { data, from: new Map(frozen.map((k) => [k, this.weights[k]])) });
    return data;
  }

  /** Runs `ds` through the plan batch by batch (the last one padded), yielding the requested outputs. */
  async *batches(
    ds: Dataset,
    outputs: string[],
  ): AsyncGenerator<{
    out: Record<string, ArrayLike<number>>;
    inputs: Record<string, ArrayLike<number>>;
    start: number;
    valid: number;
  }> {
    this.checkSet();
    yield* this.run(await this.data(ds), outputs);
  }

  /** batches() over data already as the plan reads it (frozen features included). */
  private async *run(
    data: Dataset,
    outputs: string[],
  ): AsyncGenerator<{
    out: Record<string, ArrayLike<number>>;
    inputs: Record<string, ArrayLike<number>>;
    start: number;
    valid: number;
  }> {
    const idx = [...data.examples.keys()];
    for (let start = 0; start < idx.length; start += this.batch) {
      const { inputs, valid } = makeBatch(data, idx.slice(start, start + this.batch), this.batch);
      const feed = Object.fromEntries(Object.entries(inputs).filter(([k]) => this.ex.plan.inputs[k]));
      yield { out: await this.ex.run(feed, outputs), inputs, start, valid };
    }
  }

  async evaluate(ds: Dataset, split = 'eval'): Promise<Evaluation> {
    validateDataset(split, ds, this.graph, this.spec);
    const lm = this.spec.head.kind === 'lm';
    const decoder = this.spec.text?.kind === 'decoder';
    if (lm && ds.captions) {
      // Captions: the teacher-forced loss, then captions generated greedily and scored against the references (CIDEr-D selects).
      const loss = decoder ? (await this.evaluateNextTokens(ds, split)).loss : await this.targetLoss(ds, split);
      return scoreCaptions(ds, await this.captionsOf(ds), loss, split);
    }
    if (lm && decoder) return this.evaluateNextTokens(ds, split);
    if (lm) return this.evaluateGenerated(ds, split);
    // Soft targets (bce) or integer labels (ce): scored as one-hot targets, and a split without a
    // single answer among the classes is refused, not scored as zeros.
    const A = this.answers;
    const unlabeled = ds.examples.every((e) =>
      e.targets ? Array.prototype.every.call(e.targets, (v: number) => v === 0) : false,
    );
    if (unlabeled)
      throw new DataError(
        `${split}: no example has an answer among the ${A} answer classes (every target row is zero); there is nothing to score, predict instead`,
      );
    let loss = 0,
      acc = 0,
      em = 0,
      n = 0;
    for await (const { out, inputs, valid } of this.batches(ds, ['logits'])) {
      const y = inputs.targets ? { targets: inputs.targets } : { labels: inputs.labels };
      const t = inputs.targets ?? oneHotRows(inputs.labels, A, valid);
      acc += vqaAccuracy(out.logits, t, A, valid) * valid;
      em += exactMatch(out.logits, t, A, valid) * valid;
      // Per example: the padded rows of the last batch count for nothing.
      for (let i = 0; i < valid; i++) loss += classifierLossAt(out.logits, i, A, y);
      n += valid;
    }
    const r = { loss: loss / n, accuracy: acc / n, exactMatch: em / n };
    if (!Number.isFinite(r.loss) || !Number.isFinite(r.accuracy))
      throw new NonFiniteError(
        -1,
        `${split} evaluation gave loss ${r.loss} and accuracy ${r.accuracy} (weights or inputs hold non-finite values)`,
      );
    return r;
  }

  /**
   * A decoder-only LM's 'lm' head under teacher forcing (lm-score.ts): mean next-token loss per
   * token, next-token accuracy, and the share of examples predicted whole.
   */
  private async evaluateNextTokens(
    ds: Dataset,
    split: string,
  ): Promise<{ loss: number; accuracy: number; exactMatch: number }> {
    const vocab = this.graph.get(this.graph.outputs.get('logits')!).shape.at(-1)!;
    const score = emptyScore();
    for await (const { out, inputs, valid } of this.batches(ds, ['logits']))
      scoreNextTokens(score, out.logits, inputs.tokens, inputs.mask, this.batch, valid, vocab);
    if (score.tokens === 0)
      throw new DataError(`${split}: no text token to score (every mask keeps only tokens nothing predicts)`);
    const r = {
      loss: score.nll / score.tokens,
      accuracy: score.correct / score.tokens,
      exactMatch: score.whole / score.examples,
    };
    if (!Number.isFinite(r.loss))
      throw new NonFiniteError(
        -1,
        `${split} evaluation gave loss ${r.loss} (weights or inputs hold non-finite values)`,
      );
    return r;
  }

  /**
   * An encoder-decoder's greedy generations from decoder start id `start`, decoded over the KV
   * cache: each example's tokens, ending with `eos` when it ended (the same tokens as recomputing
   * every position, test/train/generate.test.ts).
   */
  async generate(ds: Dataset, start: number, eos: number): Promise<number[][]> {
    const text = this.spec.text;
    if (text?.kind !== 'encdec')
      throw new DataError(`generate: needs an 'encdec' text tower (this one is '${text?.kind}')`);
    for (const [what, id] of [
      ['start', start],
      ['eos', eos],
    ] as const)
      if (!Number.isInteger(id) || id < 0 || id >= text.vocab)
        throw new DataError(`generate: ${what} is ${id}; it takes a token id (0 to ${text.vocab - 1})`);
    const kv = await this.decoder();
    const out: number[][] = [];
    for (let at = 0; at < ds.examples.length; at += this.batch) {
      const { inputs, valid } = makeBatch(ds, [...ds.examples.keys()].slice(at, at + this.batch), this.batch);
      const { ids, ended } = await kv.greedyEnds(captionPrompt(inputs, this.spec, start), { eos, pad: start });
      out.push(...ids.slice(0, valid).map((g, b) => (ended[b] ? [...g, eos] : g)));
    }
    return out;
  }

  /**
   * An encoder-decoder's 'lm' head: the teacher-forced loss of the data's targets, and the VQA
   * score of greedy generations against `ds.answers` (generate.ts).
   */
  private async evaluateGenerated(
    ds: Dataset,
    split: string,
  ): Promise<{ loss: number; accuracy: number; exactMatch: number }> {
    const text = this.spec.text;
    if (text?.kind !== 'encdec')
      throw new DataError(
        `${split}: an 'lm' head is scored by generating answers, which needs an 'encdec' text tower (this one is '${text?.kind}')`,
      );
    if (ds.answerTexts) {
      if (ds.answerTexts.length !== ds.examples.length)
        throw new DataError(
          `${split}: answerTexts has ${ds.answerTexts.length} rows for ${ds.examples.length} examples`,
        );
      // Open vocabulary: the generated text, decoded, against the annotators' answers.
      const tok = tokenizerFor(this.spec);
      if (tok.eosId === undefined)
        throw new DataError(`${tok.source}: no end-of-sequence token: generated answers could not stop`);
      const texts = (await this.generate(ds, tok.padId, tok.eosId)).map((ids) => tok.decode(ids));
      return { loss: await this.targetLoss(ds, split), ...scoreGeneratedTexts(texts, ds.answerTexts) };
    }
    const answers = ds.answers;
    if (!answers)
      throw new DataError(
        `${split}: an encoder-decoder is scored by the answers it generates: the dataset needs answers { tokens, start, scores } or answerTexts (runtime/batches.ts)`,
      );
    if (answers.scores.length !== ds.examples.length)
      throw new DataError(
        `${split}: answers.scores has ${answers.scores.length} rows for ${ds.examples.length} examples`,
      );
    return {
      loss: await this.targetLoss(ds, split),
      ...scoreGenerated(await this.generate(ds, answers.start, answersEos(answers, split)), answers),
    };
  }

  /** An encoder-decoder's teacher-forced loss per target token, on the host: the padded rows of a last batch count for nothing. */
  private async targetLoss(ds: Dataset, split: string): Promise<number> {
    const vocab = this.graph.get(this.graph.outputs.get('logits')!).shape.at(-1)!;
    const s = emptyScore();
    for await (const { out, inputs, valid } of this.batches(ds, ['logits']))
      scoreTargets(s, out.logits, inputs.targetLabels, inputs.targetMask, this.batch, valid, vocab);
    const loss = s.nll / Math.max(1, s.tokens);
    if (!Number.isFinite(loss))
      throw new NonFiniteError(-1, `${split} evaluation gave loss ${loss} (weights or inputs hold non-finite values)`);
    return loss;
  }

  /** The KV-cached decoder for generation, made on first use (kv-generate.ts). */
  private kv: CachedDecoder | null = null;

  /** The KV-cached decoder over the current weights. */
  private async decoder(): Promise<CachedDecoder> {
    this.kv ??= await KvDecoder.create(this.gpu, this.spec, this.batch, { plan: this.plan });
    this.checkSet();
    this.kv.setWeights(this.weights);
    return this.kv;
  }

  /** Each image's greedy caption, decoded with the KV cache (the same tokens as recomputing, faster). */
  private async captionsOf(ds: Dataset): Promise<string[]> {
    const tok = tokenizerFor(this.spec);
    if (tok.eosId === undefined)
      throw new DataError(`${tok.source}: no end-of-sequence token: generated captions could not stop`);
    const kv = await this.decoder();
    const out: string[] = [];
    for (let start = 0; start < ds.examples.length; start += this.batch) {
      const { inputs, valid } = makeBatch(ds, [...ds.examples.keys()].slice(start, start + this.batch), this.batch);
      const ids = await kv.greedy(captionPrompt(inputs, this.spec, tok.padId), { eos: tok.eosId, pad: tok.padId });
      out.push(...ids.slice(0, valid).map((s) => tok.decode(s)));
    }
    return out;
  }

  destroy(): void {
    this.kv?.destroy();
    this.ex.destroy();
  }
}

export async function train(
  gpu: Gpu,
  spec: ModelSpec,
  data: { train: Dataset; dev?: Dataset },
  cfg: TrainConfig,
  events: TrainEvents = {},
): Promise<TrainResult> {
  checkTrainConfig(cfg);
  const { graph } = lowerModel(spec, { batch: cfg.batch, mode: 'train' });
  // Every example checked against the model's inputs before any GPU work.
  validateDataset('train', data.train, graph, spec);
  if (data.dev) validateDataset('dev', data.dev, graph, spec);
  checkBackbone(graph, cfg.backbone ?? {}, !!cfg.ignoreUnknownBackbone);
  // The towers the spec names as pretrained are loaded from their directories when the caller
  // gives no backbone, and a given backbone must hold every weight they provide: a tower the
  // spec calls pretrained never trains from random init.
  const backbone = cfg.backbone ?? pretrainedBackbone(spec, graph, cfg.plan?.frozenWeights);
  if (cfg.backbone) checkCoversPretrained(spec, graph, cfg.backbone);
  if (cfg.outDir) prepareOutDir(cfg.outDir);
  const stepsPerEpoch = Math.floor(data.train.examples.length / cfg.batch);
  const profile = profileOf(gpu);
  const cache =
    cfg.cacheFrozen === false
      ? { split: null, resident: false, step: graph, why: undefined }
      : planFeatureCache(graph, cfg.batch, data.train.examples.length, {
          maxBuffer: profile.maxBufferSize,
          residentBytes: cfg.cacheOnDevice === false ? 0 : undefined,
        });
  if (cache.why) events.onCache?.({ skipped: cache.why });
  // Tuning times the matmul shapes of the step as it will be planned (forward shapes included).
  const shapes = () => compile(cache.step, { batch: 0, mode: 'train', optimizer: cfg.optimizer, profile }).graph;
  const kernels = await tunedPlanOptions(gpu, profile, cfg.autotune ?? 'cache', { shapes, plan: cfg.plan });
  if (kernels.classes) events.onTuning?.({ tuned: kernels.tuned, classes: kernels.classes });
  const ts = await TrainStep.compile(gpu, cache.step, {
    optimizer: cfg.optimizer,
    lr: cfg.lr,
    schedule: cfg.schedule,
    totalSteps: stepsPerEpoch * cfg.epochs,
    plan: kernels.plan,
  });
  // The dev set is evaluated again and again: its frozen features are computed once too.
  const evaluator = data.dev
    ? await Evaluator.create(
        gpu,
        spec,
        cfg.batch,
        kernels.plan,
        true,
        cfg.cacheFrozen === false ? undefined : data.dev.examples.length,
      )
    : null;
  const trainable = [...graph.params()].filter(([, n]) => paramInfo(n).trainable).map(([k]) => k);
  // One writer per output directory, from its first write to its last (out-lock.ts).
  const unlock = cfg.outDir ? lockDir(cfg.outDir) : () => undefined;
  try {
    const weights = initialWeights(graph, cfg.seed, backbone);
    // Checkpoints hold trainable weights only: they record which frozen weights they belong to.
    const identity = backboneIdentity(graph, spec, weights, cfg.seed);
    let history: EpochRecord[] = [];
    let best: TrainResult['best'] = null;
    let startEpoch = 0;
    let sinceBest = 0;
    // Every checkpoint of one run carries its id: a resume adopts only files of the run it resumes.
    let runId: string = randomUUID();
    if (cfg.resume) {
      const ck = loadCheckpoint(cfg.resume, graph);
      if (ck.kind === 'adapter')
        throw new CheckpointError(
          cfg.resume,
          'is an adapter file: it holds no optimizer state or history to resume from; resume from last.safetensors',
        );
      checkIdentity(cfg.resume, ck.meta, spec, identity, cfg.allowMismatch, cfg.inputs ?? {});
      if (typeof ck.meta.runId !== 'string')
        throw new CheckpointError(
          cfg.resume,
          "has no run id: written by an older peftgraph, it cannot be resumed (its best.safetensors could not be told from another run's)",
        );
      runId = ck.meta.runId;
      const meta = resumeMeta(cfg.resume, ck.meta, ck.state, ts.info.state, cfg);
      Object.assign(weights, ck.params);
      ts.setWeights(weights);
      ts.setState(ck.state);
      ts.step = meta.step;
      startEpoch = meta.epoch + 1;
      history = meta.history as unknown as EpochRecord[];
      best = meta.best;
      sinceBest = meta.sinceBest;
    } else ts.setWeights(weights);
    // The step reads the frozen features from the examples (they depend only on frozen weights).
    let trainData = data.train;
    if (cache.split) {
      const c = await cacheFeatures(gpu, cache.split, data.train, weights, cfg.batch, cfg.plan);
      trainData = c.data;
      if (cache.resident) {
        // Uploaded once: later steps set only their batch's inputs, so the tables stay.
        const r = residentTables(cache.split, c.data, cfg.batch);
        for (const [k, v] of Object.entries(r.tables)) ts.ex.setInput(k, v);
        trainData = r.data;
      }
      events.onCache?.({ ...c.report, resident: cache.resident });
    }
    const log = new StepLog(cfg.outDir ?? null, cfg.resume ? ts.step : null);
    // After a resume, the best weights so far live in best.safetensors.
    let bestWeights: Record<string, Float32Array> = cfg.resume && best ? adoptBest(cfg.resume, runId, graph) : {};
    const save = async (name: string, epoch: number) => {
      if (!cfg.outDir) return;
      const params = await ts.readWeights(trainable);
      saveCheckpoint(join(cfg.outDir, name), graph, {
        params,
        state: await ts.readState(),
        meta: {
          spec,
          config: { ...cfg, backbone: undefined },
          backbone: identity,
          inputs: cfg.inputs ?? {},
          runId,
          step: ts.step,
          epoch,
          history,
          best,
          sinceBest,
        },
      });
    };
    let stoppedEarly = false;
    // Small models keep the epoch's starting point, to replay a non-finite step and say where it began.
    const diagnosable = paramReport(graph).total <= DIAGNOSE_MAX_PARAMS;
    for (let epoch = startEpoch; epoch < cfg.epochs; epoch++) {
      const t0 = performance.now();
      const pending: Promise<StepResult>[] = [];
      const done: number[] = [];
      const batches = epochBatches(data.train.examples.length, cfg.batch, cfg.seed, epoch);
      const start = diagnosable
        ? { step: ts.step, params: await ts.readWeights(trainable), state: await ts.readState() }
        : null;
      batches.forEach((idx, k) => {
        const { inputs } = makeBatch(trainData, idx, cfg.batch);
        const p = ts.submit(inputs, stepSeed(cfg.seed, ts.step));
        void p.then(
          () => (done[k] = performance.now()),
          () => undefined,
        );
        if (events.onStep)
          void p.then(
            (r) => events.onStep!(r, epoch, k, batches.length),
            () => undefined,
          );
        pending.push(p);
      });
      const settled = await Promise.allSettled(pending);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) {
        const e = failed.reason;
        if (!(e instanceof NonFiniteError) || !start) throw e;
        // Back to the epoch's start, forward to the step before the failure, then look inside it.
        ts.setWeights({ ...weights, ...start.params });
        ts.setState(start.state);
        ts.step = start.step;
        const batchOf = (ds: Dataset, s: number) => makeBatch(ds, batches[s - start.step], cfg.batch).inputs;
        for (let s = start.step; s < e.step; s++) await ts.submit(batchOf(trainData, s), stepSeed(cfg.seed, s));
        // The reference replays the whole forward graph: frozen weights and raw inputs included.
        const widened = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, valuesOf(v)]));
        const where = diagnoseStep(
          graph,
          { ...widened, ...(await ts.readWeights()) },
          { ...batchOf(data.train, e.step), seed: [stepSeed(cfg.seed, e.step)] },
        );
        throw new NonFiniteError(
          e.step,
          `${e.tensor}; ${where ?? 'the float64 reference finds every value finite here (a float32 rounding effect): lower the learning rate'}`,
        );
      }
      const results = settled.map((r) => (r as PromiseFulfilledResult<StepResult>).value);
      const mean = (k: string) => results.reduce((s, r) => s + r.losses[k], 0) / results.length;
      const rec: EpochRecord = {
        epoch,
        step: ts.step,
        loss: mean('loss'),
        losses: Object.fromEntries(Object.keys(results[0].losses).map((k) => [k, mean(k)])),
        seconds: (performance.now() - t0) / 1000,
      };
      const last = epoch === cfg.epochs - 1;
      if (evaluator && ((epoch + 1) % cfg.evalEvery === 0 || last)) {
        const w = await ts.readWeights(trainable);
        evaluator.setWeights({ ...weights, ...w });
        rec.dev = await evaluator.evaluate(data.dev!, 'dev');
        if (!best || rec.dev.accuracy > best.accuracy + cfg.minDelta) {
          best = { epoch, accuracy: rec.dev.accuracy };
          bestWeights = w;
          sinceBest = 0;
          history.push(rec);
          await save('best.safetensors', epoch);
        } else {
          sinceBest++;
          history.push(rec);
        }
      } else history.push(rec);
      events.onEpoch?.(rec);
      await save('last.safetensors', epoch);
      log.append(
        results.map((r, k) => ({
          step: r.step,
          epoch,
          lr: r.lr,
          gradNorm: r.gradNorm,
          ms: +(done[k] - (k ? done[k - 1] : t0)).toFixed(3),
          losses: r.losses,
        })),
      );
      if (cfg.patience > 0 && sinceBest >= cfg.patience) {
        stoppedEarly = true;
        break;
      }
      if (cfg.signal?.aborted) break;
    }
    if (!evaluator) bestWeights = await ts.readWeights(trainable);
    return {
      spec,
      seed: cfg.seed,
      inputs: cfg.inputs ?? {},
      examples: { train: data.train.examples.length, ...(data.dev ? { dev: data.dev.examples.length } : {}) },
      history,
      identity,
      best,
      bestWeights,
      stoppedEarly,
    };
  } finally {
    ts.destroy();
    evaluator?.destroy();
    unlock();
  }
}

/**
 * The best weights of the run a resume continues: its best.safetensors beside the resumed
 * last.safetensors, and only if it is that run's (the same run id). Another run's best file in an
 * output directory was once adopted as this run's adapter.
 */
function adoptBest(resume: string, runId: string, graph: Graph): Record<string, Float32Array> {
  const path = join(dirname(resume), 'best.safetensors');
  if (!existsSync(path))
    throw new CheckpointError(
      resume,
      `records a best epoch, but ${path} is missing: resume from the run's own directory`,
    );
  const ck = loadCheckpoint(path, graph);
  if (ck.meta.runId !== runId)
    throw new CheckpointError(
      path,
      `belongs to another run than ${resume} (run ids ${String(ck.meta.runId).slice(0, 8)} and ${runId.slice(0, 8)})`,
    );
  return ck.params;
}

/** The weights of the spec's pretrained towers (16-bit tensors kept so when frozen weights stay 16-bit on the device). */
function pretrainedBackbone(spec: ModelSpec, graph: Graph, frozen: FrozenWeights = 'f32'): WeightMap {
  return frozen !== 'f32'
    ? pretrainedWeights(spec, graph, { keep16: true }).weights
    : pretrainedWeights(spec, graph).weights;
}

/** A caller's backbone holds every weight the spec's pretrained directories and init files provide (checked from their headers). */
function checkCoversPretrained(spec: ModelSpec, graph: Graph, backbone: WeightMap): void {
  const plans = planImport(spec, graph);
  const missing = plans
    .flatMap((p) => p.entries.filter((e) => !(e.ours in backbone)).map((e) => `${e.ours} (${p.dir})`))
    .concat(
      planInit(spec, graph, plans).flatMap((p) =>
        p.params.filter((n) => !(n in backbone)).map((n) => `${n} (${p.file})`),
      ),
    );
  if (missing.length)
    throw new CheckpointError(
      'backbone weights',
      `lack ${missing.length} weight${missing.length > 1 ? 's' : ''} of the spec's pretrained towers${spec.init.length ? ' and init files' : ''} (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}); leave cfg.backbone out and train() loads them, or pass pretrainedWeights(spec, graph).weights`,
    );
}

/** Backbone weights must name params of the model, with their sizes. */
function checkBackbone(graph: Graph, backbone: WeightMap, ignoreUnknown: boolean): void {
  const params = graph.params();
  const problems: string[] = [];
  for (const [name, v] of Object.entries(backbone)) {
    const p = params.get(name);
    if (!p) {
      if (!ignoreUnknown) problems.push(`'${name}' is not a param of this model`);
    } else if (weightLength(v) !== p.shape.reduce((a, b) => a * b, 1))
      problems.push(
        `'${name}' has ${weightLength(v)} values, the model's [${p.shape}] needs ${p.shape.reduce((a, b) => a * b, 1)}`,
      );
  }
  // HF checkpoint keys (embeddings.*, encoder.layer.*) are not our names: they load through the spec.
  const hfKeys = Object.keys(backbone).some(
    (k) => !params.has(k) && /(^|\.)(embeddings|encoder\.layer|h\.\d+|layernorm|pooler)\./.test(k),
  );
  const hint = hfKeys
    ? "\n  these look like an HF checkpoint's keys: name the directory in the spec (hf.vision(dir), hf.text(dir)) and leave cfg.backbone out, or pass pretrainedWeights(spec, graph).weights"
    : '';
  if (problems.length)
    throw new CheckpointError(
      'backbone weights',
      `do not fit the model:\n  ${problems.slice(0, 12).join('\n  ')}${problems.length > 12 ? `\n  ... ${problems.length - 12} more` : ''}${hint}`,
    );
}

const ResumeMeta = z.object({
  step: z.number().int().min(0),
  epoch: z.number().int().min(0),
  history: z.array(z.object({ epoch: z.number(), loss: z.number() }).passthrough()),
  best: z.object({ epoch: z.number().int(), accuracy: z.number() }).nullable().default(null),
  sinceBest: z.number().int().min(0).default(0),
  config: z
    .object({ optimizer: z.object({ kind: z.string() }).passthrough() })
    .passthrough()
    .optional(),
});

/** A resume checkpoint's bookkeeping, checked: well-formed, the same optimizer, epochs left to run. */
function resumeMeta(
  path: string,
  meta: Record<string, unknown>,
  state: Record<string, unknown>,
  stateNames: string[],
  cfg: TrainConfig,
): z.infer<typeof ResumeMeta> {
  const r = ResumeMeta.safeParse(meta);
  if (!r.success)
    throw new CheckpointError(
      path,
      `cannot resume from it: its metadata is malformed (${r.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')})`,
    );
  const was = r.data.config?.optimizer.kind;
  if (was && was !== cfg.optimizer.kind)
    throw new CheckpointError(
      path,
      `was trained with --optimizer ${was}; resume with the same optimizer (now ${cfg.optimizer.kind})`,
    );
  const missing = stateNames.filter((n) => !(n in state));
  if (missing.length)
    throw new CheckpointError(
      path,
      `lacks optimizer state for ${missing.length} tensors (${missing.slice(0, 3).join(', ')}...): not a last.safetensors of this run`,
    );
  if (r.data.epoch + 1 >= cfg.epochs)
    throw new CheckpointError(
      path,
      `has finished epoch ${r.data.epoch + 1}; --epochs ${cfg.epochs} leaves nothing to train (ask for more epochs to continue)`,
    );
  return r.data;
}

/**
 * The output directory, made and proven writable before any GPU work (a read-only or full disk
 * would otherwise fail after an epoch), and cleared of temp files killed runs left.
 */
function prepareOutDir(dir: string): void {
  const probe = join(dir, `.write-test.${process.pid}`);
  try {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error('it is not a directory');
    makeDirs(dir);
    writeFileSync(probe, 'peftgraph');
    unlinkSync(probe);
  } catch (e) {
    throw new CheckpointError(dir, `output directory is not writable: ${writeFailure(e) ?? (e as Error).message}`);
  }
  removeStaleTemps(dir);
}
