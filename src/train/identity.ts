/**
 * What a checkpoint was trained on, so it is never evaluated, resumed or served on something
 * else: the frozen weights (a content hash over every non-trainable param, and where they came
 * from: pretrained directories or the init seed) and the spec. A checkpoint holds only trainable
 * weights; with another backbone it would load cleanly and score like chance.
 */
import { createHash } from 'node:crypto';
import type { Graph } from '../compiler/ir/graph.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { CheckpointError } from '../runtime/safetensors.ts';
import { loadCheckpoint } from '../runtime/checkpoint.ts';
import { initialWeights } from '../runtime/init.ts';
import { pretrainedWeights } from '../hf/import.ts';
import { paramInfo } from '../compiler/ir/attrs.ts';
import { valuesOf, type WeightMap } from '../runtime/half.ts';

export interface BackboneIdentity {
  /** sha256 over the frozen params' names, shapes and f32 values, in name order. */
  hash: string;
  /** The init seed of frozen params no checkpoint directory supplied. */
  seed: number;
  /** Pretrained directories, per tower. */
  sources: string[];
}

/** How an init file is named among an identity's sources. */
const INIT_SOURCE = 'init from ';

export function backboneIdentity(graph: Graph, spec: ModelSpec, weights: WeightMap, seed: number): BackboneIdentity {
  const h = createHash('sha256');
  const frozen = [...graph.params()].filter(([, n]) => !paramInfo(n).trainable).sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [name, n] of frozen) {
    const v = weights[name];
    if (!v) throw new Error(`backboneIdentity: no value for frozen param '${name}'`);
    h.update(`${name}[${n.shape.join(',')}]`);
    // A 16-bit weight hashes as its exact f32 values: the same identity however it was loaded.
    const x = valuesOf(v);
    const f = x instanceof Float32Array ? x : Float32Array.from(x);
    h.update(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
  }
  const sources = [spec.vision?.pretrained, spec.text?.pretrained]
    .filter((p) => p)
    .map((p) => `${p!.family} from ${p!.dir}`)
    .concat(spec.init.map((f) => `${INIT_SOURCE}${f}`));
  return { hash: h.digest('hex'), seed, sources };
}

/**
 * The spec without the paths it read from: a moved directory is the same model (the hash tells),
 * and an init file starts weights that are either trainable (the checkpoint holds them) or frozen
 * (the hash covers them).
 */
function portable(spec: unknown): unknown {
  // Only the top-level init: a PEFT option of that name would be part of the model.
  const rest =
    spec && typeof spec === 'object' && !Array.isArray(spec)
      ? Object.fromEntries(Object.entries(spec).filter(([k]) => k !== 'init'))
      : spec;
  if (rest === undefined) return undefined;
  return JSON.parse(
    JSON.stringify(rest, (k, v) => (k === 'dir' || k === 'tokenizer' || k === 'processor' ? undefined : v)),
  );
}

/**
 * What turns a run's raw inputs into the tensors it saw: the answer classes (in head order), the
 * tokenizer and the image processor, each as a sha256. A checkpoint records the ones its run used;
 * evaluating or predicting with others would score or answer with the wrong labels or inputs.
 */
export interface InputsIdentity {
  answers?: string;
  tokenizer?: string;
  processor?: string;
}

const sha = (x: string) => createHash('sha256').update(x).digest('hex');

export function inputsIdentity(o: {
  answers?: readonly string[];
  tokenizer?: { fingerprint: string };
  processor?: { fingerprint: string };
}): InputsIdentity {
  return {
    ...(o.answers ? { answers: sha(JSON.stringify(o.answers)) } : {}),
    ...(o.tokenizer ? { tokenizer: o.tokenizer.fingerprint } : {}),
    ...(o.processor ? { processor: o.processor.fingerprint } : {}),
  };
}

const WHAT: Record<keyof InputsIdentity, string> = {
  answers: 'answer classes (answers.json)',
  tokenizer: 'tokenizer',
  processor: 'image processor',
};

/** The identity metadata of a checkpoint, checked for shape: missing or mistyped is an error, never a pass. */
function recorded(path: string, meta: Record<string, unknown>): { backbone: BackboneIdentity; inputs: InputsIdentity } {
  const b = meta.backbone as Partial<BackboneIdentity> | undefined;
  const okBackbone =
    typeof b === 'object' &&
    b !== null &&
    typeof b.hash === 'string' &&
    typeof b.seed === 'number' &&
    Array.isArray(b.sources);
  if (!okBackbone)
    throw new CheckpointError(
      path,
      'has no valid "backbone" identity (sha256, seed, sources): it was not written by peftgraph train, or was edited; it cannot be matched to a base',
    );
  if (typeof meta.spec !== 'object' || meta.spec === null)
    throw new CheckpointError(path, 'has no "spec": it was not written by peftgraph train, or was edited');
  const inputs = meta.inputs as InputsIdentity | undefined;
  if (typeof inputs !== 'object' || inputs === null || Object.values(inputs).some((v) => typeof v !== 'string'))
    throw new CheckpointError(
      path,
      'has no valid "inputs" identity (answer classes, tokenizer, image processor): written before they were bound, or edited; retrain it',
    );
  return { backbone: b as BackboneIdentity, inputs };
}

/**
 * Where two specs differ (directories aside: a moved directory is the same model), as
 * `path: recorded, here` lines, at most `max`: what a refusal says instead of "a different spec".
 */
export function specDifferences(recorded: unknown, now: unknown, max = 4): string[] {
  const out: string[] = [];
  const show = (v: unknown) => (v === undefined ? 'absent' : JSON.stringify(v));
  const walk = (a: unknown, b: unknown, at: string) => {
    if (
      typeof a === 'object' &&
      a !== null &&
      typeof b === 'object' &&
      b !== null &&
      Array.isArray(a) === Array.isArray(b)
    ) {
      for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])])
        walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at ? `${at}.${k}` : k);
    } else if (JSON.stringify(a) !== JSON.stringify(b))
      out.push(`${at || 'spec'}: ${show(a)} when trained, ${show(b)} now`);
  };
  walk(portable(recorded), portable(now), '');
  return out.length > max ? [...out.slice(0, max), `and ${out.length - max} more`] : out;
}

/**
 * Refuses to pair a checkpoint with a different backbone, spec, or inputs (answer classes,
 * tokenizer, image processor: those both sides know), saying what differs; `allow` (the
 * --allow-mismatch flag) turns the refusal off. Identity metadata that is missing or mistyped is
 * an error either way.
 */
export function checkIdentity(
  path: string,
  meta: Record<string, unknown>,
  spec: ModelSpec,
  now: BackboneIdentity,
  allow = false,
  inputs: InputsIdentity = {},
): void {
  const { backbone: was, inputs: had } = recorded(path, meta);
  if (allow) return;
  const problems: string[] = [];
  for (const k of Object.keys(WHAT) as (keyof InputsIdentity)[]) {
    if (had[k] && inputs[k] && had[k] !== inputs[k])
      problems.push(
        `its ${WHAT[k]} differ from those it was trained with (sha256 ${had[k]!.slice(0, 12)}, now ${inputs[k]!.slice(0, 12)})`,
      );
  }
  const differ = meta.spec ? specDifferences(meta.spec, spec) : [];
  // Another spec freezes other params: the frozen weights then differ because of it, not because of the seed or files.
  if (differ.length) problems.push(`it was trained with another spec (${differ.join('; ')})`);
  else if (was.hash !== now.hash) {
    const initFiles = was.sources.some((x) => x.startsWith(INIT_SOURCE));
    problems.push(
      `its frozen weights differ: trained on ${was.sources.length ? was.sources.join(' + ') : 'randomly initialized towers'} with seed ${was.seed} (sha256 ${was.hash.slice(0, 12)}), ` +
        `now ${now.sources.length ? now.sources.join(' + ') : 'randomly initialized towers'} with seed ${now.seed} (sha256 ${now.hash.slice(0, 12)})${was.seed !== now.seed ? `; pass seed ${was.seed} (--seed ${was.seed})` : ''}` +
        // Same directories and seed, other weights: the files changed, or the run was handed other frozen weights.
        (was.seed === now.seed && was.sources.join() === now.sources.join() && was.sources.length
          ? `: the same ${initFiles ? 'sources' : 'directories'}, other values: their files changed since${initFiles ? ' (or an init file holding frozen weights has moved: give the spec its new path)' : ''}, or training was given other frozen weights (cfg.backbone) than they hold`
          : ''),
    );
  }
  if (problems.length)
    throw new CheckpointError(
      path,
      `${problems.join('; ')}. Pass allowMismatch: true (--allow-mismatch) to load it anyway`,
    );
}

/**
 * The frozen weights of `spec`'s base: its pretrained towers, the rest initialized from `seed`.
 * `keep16`: F16/BF16 checkpoint tensors stay 16-bit (for frozen weights kept so on the device).
 */
export function baseWeights(spec: ModelSpec, graph: Graph, seed: number, o: { keep16?: boolean } = {}): WeightMap {
  // An init file that moved since training is skipped: the checkpoint holds the trainable weights it
  // started, and the frozen-weights hash refuses a base that lacks a frozen one (naming the file).
  const pre = o.keep16
    ? pretrainedWeights(spec, graph, { keep16: true, skipUnreadableInit: true })
    : pretrainedWeights(spec, graph, { skipUnreadableInit: true });
  return initialWeights(graph, seed, pre.weights);
}

/** The seed a checkpoint or adapter was trained with (the random-init part of its base depends on it). */
export function trainedSeed(meta: Record<string, unknown>): number {
  return Number((meta.config as { seed?: number } | undefined)?.seed ?? 42);
}

/**
 * Everything an inference with a checkpoint or adapter needs: the frozen weights it belongs to
 * (the spec's pretrained towers, and the init of the checkpoint's seed unless `seed` overrides
 * it, or `base` when given) checked against what it was trained on, plus its trainable weights.
 */
export function weightsWithCheckpoint(
  spec: ModelSpec,
  graph: Graph,
  path: string,
  o: { seed?: number; allowMismatch?: boolean; keep16?: boolean; inputs?: InputsIdentity; base?: WeightMap } = {},
): { weights: WeightMap; seed: number } {
  const ck = loadCheckpoint(path, graph);
  const seed = o.seed ?? trainedSeed(ck.meta);
  const frozen = o.base ?? baseWeights(spec, graph, seed, { keep16: o.keep16 });
  if (o.base) {
    const missing = [...graph.params()].filter(([k, n]) => !paramInfo(n).trainable && !o.base![k]).map(([k]) => k);
    if (missing.length)
      throw new CheckpointError(
        path,
        `the base given has no ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` (and ${missing.length - 3} more frozen weights)` : ''}: pass every frozen weight of the model, or no base (then the spec's own)`,
      );
  }
  checkIdentity(path, ck.meta, spec, backboneIdentity(graph, spec, frozen, seed), o.allowMismatch, o.inputs);
  return { weights: { ...frozen, ...ck.params }, seed };
}
