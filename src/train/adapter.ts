/**
 * Adapters on their own (HF peft's save_pretrained / PeftModel.from_pretrained): a directory with a
 * file of the trainable weights only (PEFT modules, the head, BitFit biases; no optimizer state),
 * the spec, and the identity of the base model it was trained on (its pretrained directories and
 * a sha256 of every frozen weight), the answer classes, and a card. Loading it onto a base checks
 * that identity and refuses another base, saying what differs. An AdapterHost compiles one base
 * model and switches between adapters by uploading only their weights.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { WeightMap } from '../runtime/half.ts';
import type { Graph } from '../compiler/ir/graph.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import { parseSpec, type ModelSpec } from '../dsl/spec.ts';
import { readAnswerList } from '../data/answers.ts';
import { loadCheckpoint, saveCheckpoint } from '../runtime/checkpoint.ts';
import type { Dataset } from '../runtime/batches.ts';
import type { Gpu } from '../runtime/device.ts';
import { makeDirs } from '../runtime/files.ts';
import { CheckpointError, SafetensorsFile, writeAtomic } from '../runtime/safetensors.ts';
import {
  backboneIdentity,
  baseWeights,
  checkIdentity,
  inputsIdentity,
  weightsWithCheckpoint,
  type BackboneIdentity,
  type InputsIdentity,
} from './identity.ts';
import { Evaluator, type TrainResult } from './trainer.ts';
import { paramInfo } from '../compiler/ir/attrs.ts';
import { adapterCard } from './adapter-card.ts';

export const ADAPTER_FILE = 'adapter.safetensors';
export const ANSWERS_FILE = 'answers.json';
export const CARD_FILE = 'README.md';

/** Writes `weights`' trainable params of `graph` as an adapter file of the base `identity` describes, and of the `inputs` its run used. */
export function writeAdapterFile(
  path: string,
  graph: Graph,
  spec: ModelSpec,
  weights: Record<string, Float32Array>,
  identity: BackboneIdentity,
  inputs: InputsIdentity,
  extra: Record<string, unknown> = {},
): number {
  const params: Record<string, Float32Array> = {};
  for (const [name, n] of graph.params()) {
    if (!paramInfo(n).trainable) continue;
    if (!weights[name]) throw new Error(`writeAdapterFile: no value for trainable param '${name}'`);
    params[name] = weights[name];
  }
  saveCheckpoint(
    path,
    graph,
    { params, state: {}, meta: { spec, backbone: identity, inputs, ...extra } },
    undefined,
    'adapter',
  );
  return Object.values(params).reduce((s, v) => s + v.length, 0);
}

/**
 * An adapter file's trainable weights, checked against the model (names, shapes) and against the
 * base it is loaded onto (frozen-weight hash and spec); `allowMismatch` loads it onto another base anyway.
 */
export function readAdapterFile(
  path: string,
  spec: ModelSpec,
  graph: Graph,
  base: BackboneIdentity,
  allowMismatch = false,
): Record<string, Float32Array> {
  const a = loadCheckpoint(path, graph);
  checkIdentity(path, a.meta, spec, base, allowMismatch);
  return a.params;
}

/** The adapter file a path names: a directory's adapter.safetensors, or the file itself. */
export function adapterFile(path: string): string {
  if (!existsSync(path)) throw new CheckpointError(path, 'does not exist');
  return statSync(path).isDirectory() ? join(path, ADAPTER_FILE) : path;
}

/** The spec a checkpoint or adapter file records (its header only). */
export function specOfCheckpoint(path: string): ModelSpec {
  const f = SafetensorsFile.open(path);
  const meta = f.metadata;
  f.close();
  if (!meta.spec) throw new CheckpointError(path, 'records no spec: give the spec file too');
  let raw: unknown;
  try {
    raw = JSON.parse(meta.spec);
  } catch {
    throw new CheckpointError(path, 'its spec metadata is not JSON');
  }
  return parseSpec(raw);
}

export interface SaveAdapterOptions {
  /** The answer classes in head order (a VQA head): answers.json, bound to the adapter by its hash. */
  answers?: readonly string[];
  /** Where the training data came from, for the card (e.g. the --data path and k). */
  data?: string;
  /** A test evaluation of these weights, for the card. */
  test?: { loss: number; accuracy: number; exactMatch: number; examples?: number };
}

/**
 * An adapter directory, as HF peft's save_pretrained writes one: adapter.safetensors (the best
 * trainable weights, the spec, the base identity, the inputs), answers.json when given, and a
 * README.md card (method, sizes, base, data, scores). `loadAdapter(dir)` reads it back.
 */
export function saveAdapter(
  dir: string,
  result: TrainResult,
  o: SaveAdapterOptions = {},
): { dir: string; values: number; files: string[] } {
  const { spec } = result;
  const graph = lowerModel(spec, { batch: 1, mode: 'train' }).graph;
  if (o.answers) {
    const classes = spec.head.kind === 'classifier' ? spec.head.answers : 0;
    if (o.answers.length !== classes)
      throw new CheckpointError(dir, `answers: ${o.answers.length} given for a head of ${classes}`);
    const bound = result.inputs.answers;
    if (bound && bound !== inputsIdentity({ answers: o.answers }).answers)
      throw new CheckpointError(
        dir,
        'answers: not the answer classes this run was trained with (cfg.inputs records another list)',
      );
  }
  // Bound to the weights: answers given here are recorded in the adapter when the run did not.
  const inputs = o.answers ? { ...inputsIdentity({ answers: o.answers }), ...result.inputs } : result.inputs;
  makeDirs(dir);
  const values = writeAdapterFile(join(dir, ADAPTER_FILE), graph, spec, result.bestWeights, result.identity, inputs, {
    config: { seed: result.seed },
  });
  const files = [ADAPTER_FILE];
  if (o.answers) {
    writeAtomic(join(dir, ANSWERS_FILE), Buffer.from(JSON.stringify(o.answers)));
    files.push(ANSWERS_FILE);
  }
  writeAdapterCard(dir, { ...result, inputs }, { ...o, values }, graph);
  files.push(CARD_FILE);
  return { dir, values, files };
}

/** (Re)writes the card alone: e.g. once a test evaluation of the saved weights is known. */
export function writeAdapterCard(
  dir: string,
  result: TrainResult,
  o: Omit<SaveAdapterOptions, 'answers'> & { values: number },
  graph = lowerModel(result.spec, { batch: 1, mode: 'train' }).graph,
): void {
  writeAtomic(join(dir, CARD_FILE), Buffer.from(adapterCard(result, graph, o)));
}

export interface LoadedAdapter {
  /** The adapter file read. */
  file: string;
  /** The spec it was trained with. */
  spec: ModelSpec;
  /** Its trainable weights alone. */
  adapter: Record<string, Float32Array>;
  /** The whole model: the base's frozen weights with the adapter's on top (Evaluator.setWeights, exportMerged). */
  weights: WeightMap;
  /** The answer classes in head order (answers.json beside it), when it has them. */
  answers?: string[];
  /** The seed of the frozen init. */
  seed: number;
}

/**
 * An adapter directory (or file) onto its base, as PeftModel.from_pretrained: the spec it records,
 * its weights, and answers.json beside it. The base is the spec's own (its pretrained towers, the
 * init of the adapter's seed) unless `base` gives the frozen weights; either way it must be the
 * base the adapter was trained on (allowMismatch: load it anyway).
 */
export function loadAdapter(
  path: string,
  o: { base?: WeightMap; seed?: number; allowMismatch?: boolean; keep16?: boolean } = {},
): LoadedAdapter {
  const file = adapterFile(path);
  const spec = specOfCheckpoint(file);
  const graph = lowerModel(spec, { batch: 1, mode: 'train' }).graph;
  const answersPath = join(dirname(file), ANSWERS_FILE);
  const answers =
    spec.head.kind === 'classifier' && existsSync(answersPath)
      ? readAnswerList(answersPath, spec.head.answers)
      : undefined;
  const { weights, seed } = weightsWithCheckpoint(spec, graph, file, {
    ...o,
    inputs: answers ? inputsIdentity({ answers }) : {},
  });
  const adapter: Record<string, Float32Array> = {};
  for (const [name, n] of graph.params()) if (paramInfo(n).trainable) adapter[name] = weights[name] as Float32Array;
  return { file, spec, adapter, weights, ...(answers ? { answers } : {}), seed };
}

/**
 * One compiled inference model of `spec` on its base, serving several adapters: `load` checks
 * each against the base, `use` uploads one's weights (a few MB for PEFT); `evaluate` and the
 * evaluator's `batches` run the active one.
 */
export class AdapterHost {
  private readonly adapters = new Map<string, Record<string, Float32Array>>();
  private current: string | null = null;

  private constructor(
    readonly spec: ModelSpec,
    readonly graph: Graph,
    private readonly base: WeightMap,
    readonly identity: BackboneIdentity,
    readonly evaluator: Evaluator,
  ) {}

  /** `seed`: the init seed of frozen params no pretrained directory supplies (as in training). */
  static async create(gpu: Gpu, spec: ModelSpec, o: { batch: number; seed: number }): Promise<AdapterHost> {
    const { graph } = lowerModel(spec, { batch: o.batch, mode: 'infer' });
    const base = baseWeights(spec, graph, o.seed);
    const ev = await Evaluator.create(gpu, spec, o.batch);
    ev.setWeights(base);
    return new AdapterHost(spec, graph, base, backboneIdentity(graph, spec, base, o.seed), ev);
  }

  /** Loads the adapter in `path` (a directory, or its adapter file) under `name`. */
  load(name: string, path: string, o: { allowMismatch?: boolean } = {}): void {
    this.adapters.set(name, readAdapterFile(adapterFile(path), this.spec, this.graph, this.identity, o.allowMismatch));
    if (this.current === name) this.use(name);
  }

  get names(): string[] {
    return [...this.adapters.keys()];
  }

  /** Makes `name` the active adapter. */
  use(name: string): void {
    this.weights(name); // names the loaded adapters if there is no such one
    // Every adapter of this spec has the same trainable params: uploading them replaces the last one.
    this.evaluator.setWeights(this.adapters.get(name)!);
    this.current = name;
  }

  private active(): void {
    if (!this.current)
      throw new CheckpointError(
        'adapter host',
        `no adapter in use: call use(name) first (loaded: ${this.names.join(', ') || 'none'})`,
      );
  }

  evaluate(ds: Dataset, split = 'eval') {
    this.active();
    return this.evaluator.evaluate(ds, split);
  }

  /** An adapter's weights with the base's (default: the active one): what exportMerged folds into one model. */
  weights(name = this.current): WeightMap {
    const w = name === null ? undefined : this.adapters.get(name);
    if (!w)
      throw new CheckpointError(String(name), `no such adapter loaded (loaded: ${this.names.join(', ') || 'none'})`);
    return { ...this.base, ...w };
  }

  destroy(): void {
    this.evaluator.destroy();
  }
}
