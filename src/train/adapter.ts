/**
 * Adapters on their own (HF peft's save_pretrained / PeftModel.from_pretrained): a file of the
 * trainable weights only (PEFT modules, the head, BitFit biases; no optimizer state), the spec,
 * and the identity of the base model it was trained on (its pretrained directories and a sha256
 * of every frozen weight). Loading it onto a base checks that identity and refuses another base,
 * saying what differs. An AdapterHost compiles one base model and switches between adapters by
 * uploading only their weights.
 */
import type { WeightMap } from '../runtime/half.ts';
import type { Graph } from '../compiler/ir/graph.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { loadCheckpoint, saveCheckpoint } from '../runtime/checkpoint.ts';
import type { Dataset } from '../runtime/data.ts';
import type { Gpu } from '../runtime/device.ts';
import { CheckpointError } from '../runtime/safetensors.ts';
import { backboneIdentity, baseWeights, checkIdentity, type BackboneIdentity, type InputsIdentity } from './identity.ts';
import { Evaluator } from './trainer.ts';
import { paramInfo } from '../compiler/ir/attrs.ts';

export const ADAPTER_FILE = 'adapter.safetensors';

/** Writes `weights`' trainable params of `graph` as an adapter of the base `identity` describes, and of the `inputs` its run used. */
export function saveAdapter(
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
    if (!weights[name]) throw new Error(`saveAdapter: no value for trainable param '${name}'`);
    params[name] = weights[name];
  }
  saveCheckpoint(path, graph, { params, state: {}, meta: { spec, backbone: identity, inputs, ...extra } }, undefined, 'adapter');
  return Object.values(params).reduce((s, v) => s + v.length, 0);
}

/**
 * An adapter's trainable weights, checked against the model (names, shapes) and against the base
 * it is loaded onto (frozen-weight hash and spec); `allowMismatch` loads it onto another base anyway.
 */
export function loadAdapter(path: string, spec: ModelSpec, graph: Graph, base: BackboneIdentity, allowMismatch = false): Record<string, Float32Array> {
  const a = loadCheckpoint(path, graph);
  checkIdentity(path, a.meta, spec, base, allowMismatch);
  return a.params;
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

  load(name: string, path: string, o: { allowMismatch?: boolean } = {}): void {
    this.adapters.set(name, loadAdapter(path, this.spec, this.graph, this.identity, o.allowMismatch));
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
    if (!this.current) throw new CheckpointError('adapter host', `no adapter in use: call use(name) first (loaded: ${this.names.join(', ') || 'none'})`);
  }

  evaluate(ds: Dataset, split = 'eval') {
    this.active();
    return this.evaluator.evaluate(ds, split);
  }

  /** An adapter's weights with the base's (default: the active one): what exportMerged folds into one model. */
  weights(name = this.current): WeightMap {
    const w = name === null ? undefined : this.adapters.get(name);
    if (!w) throw new CheckpointError(String(name), `no such adapter loaded (loaded: ${this.names.join(', ') || 'none'})`);
    return { ...this.base, ...w };
  }

  destroy(): void {
    this.evaluator.destroy();
  }
}
