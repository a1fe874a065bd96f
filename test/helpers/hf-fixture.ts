/**
 * The HF-layout fixtures of test/fixtures/hf (made by scripts/fixtures/hf_fixtures.py from
 * torchvision / torch.nn / modeling_t5.py in float64): a tower spec from the directory, the
 * graph that runs it, the imported weights, the feeds and the expected outputs by our names.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { hf } from '../../src/hf/towers.ts';
import { parseSpec, type ModelSpec } from '../../src/dsl/spec.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { loadImport, planImport, type TowerImport } from '../../src/hf/import.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import type { Feeds } from '../../src/compiler/reference.ts';
import type { Graph } from '../../src/compiler/ir/graph.ts';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'hf');
export const FAMILIES = ['vit', 'clip_vision', 'bert', 'roberta', 'gpt2', 'gpt2_untied', 't5', 't5_v1_1'] as const;
export type FixtureName = (typeof FAMILIES)[number];

interface Arr {
  shape: number[];
  data: number[];
}

export interface Expected {
  source: string;
  dtype: string;
  inputs: Record<string, Arr>;
  outputs: Record<string, Arr>;
}

export const fixtureDir = (name: string) => join(FIXTURES, name);
export const readExpected = (name: string): Expected =>
  JSON.parse(readFileSync(join(fixtureDir(name), 'expected.json'), 'utf8'));
export const readKeys = (name: string): string[] =>
  JSON.parse(readFileSync(join(fixtureDir(name), 'keys.json'), 'utf8'));

const VISION = ['vit', 'clip_vision'];

/** A one-tower model of the fixture, sized to its inputs. */
export function fixtureSpec(name: FixtureName): ModelSpec {
  const e = readExpected(name);
  const dir = fixtureDir(name);
  if (VISION.includes(name)) return parseSpec({ vision: hf.vision(dir), head: { kind: 'features' } });
  const maxLen = e.inputs.input_ids.shape[1];
  const targetLen = e.inputs.decoder_input_ids?.shape[1];
  const text = hf.text(dir, { maxLen, targetLen });
  return parseSpec({ text, head: text.kind === 'encdec' ? { kind: 'lm' } : { kind: 'features' } });
}

/** Expected outputs under the names peftgraph's graph gives them. */
export function expectedOutputs(name: FixtureName): Record<string, Arr> {
  const o = readExpected(name).outputs;
  const tower = VISION.includes(name) ? 'vision' : 'text';
  const out: Record<string, Arr> = {};
  if (name.startsWith('t5')) {
    out['encoder.hidden'] = o.encoder_last_hidden_state;
    out['decoder.hidden'] = o.last_hidden_state;
  } else out[`${tower}.hidden`] = o.last_hidden_state;
  if (o.pooler_output) out[`${tower}.pooled`] = o.pooler_output;
  if (o.logits) out.logits = o.logits;
  return out;
}

export interface Loaded {
  spec: ModelSpec;
  graph: Graph;
  plans: TowerImport[];
  weights: Record<string, Float32Array>;
  feeds: Feeds;
}

export function loadFixture(name: FixtureName): Loaded {
  const spec = fixtureSpec(name);
  const e = readExpected(name);
  const B = (e.inputs.pixel_values ?? e.inputs.input_ids).shape[0];
  const { graph } = lowerModel(spec, { batch: B, mode: 'infer', features: true });
  const plans = planImport(spec, graph);
  const weights = loadImport(plans);
  return { spec, graph, plans, weights, feeds: fixtureFeeds(graph, weights, e) };
}

/** The fixture's inputs and `weights` as the reference interpreter's feeds for `graph`. */
export function fixtureFeeds(graph: Graph, weights: Record<string, ArrayLike<number>>, e: Expected): Feeds {
  const names: Record<string, [string, 'f32' | 'i32']> = {
    pixel_values: ['image', 'f32'],
    input_ids: ['tokens', 'i32'],
    attention_mask: ['mask', 'f32'],
    decoder_input_ids: ['targetTokens', 'i32'],
    decoder_attention_mask: ['targetMask', 'f32'],
  };
  const inputs: Record<string, Value> = {};
  for (const [k, a] of Object.entries(e.inputs)) inputs[names[k][0]] = Value.of(a.shape, a.data, names[k][1]);
  if (inputs.targetTokens) inputs.targetLabels = inputs.targetTokens; // the loss needs labels; any will do
  const params: Record<string, Value> = {};
  for (const [k, n] of graph.params()) {
    expect(weights[k], `param ${k} imported`).toBeDefined();
    params[k] = Value.of(n.shape, weights[k]);
  }
  const needed = graph.inputs();
  return { params, inputs: Object.fromEntries(Object.entries(inputs).filter(([k]) => needed.has(k))) };
}

/**
 * Largest error relative to the tensor's scale: max_i |got_i - want_i| / (|want_i| + mean|want|).
 * The mean-magnitude floor keeps entries near zero from dominating.
 */
export function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < want.length; i++) mean += Math.abs(want[i]) / want.length;
  let worst = 0;
  for (let i = 0; i < want.length; i++)
    worst = Math.max(worst, Math.abs(got[i] - want[i]) / (Math.abs(want[i]) + mean));
  return worst;
}
