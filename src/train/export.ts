/**
 * Exporting merged inference weights (MixPHM/AdaMix experts averaged, LoRA folded): as one
 * peftgraph safetensors file, or in HF layout, each tower as save_pretrained writes its base model.
 */
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../dsl/spec.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import { mergeWeights } from '../compiler/lower/merge.ts';
import { methodOf } from '../compiler/params-report.ts';
import { hfTower } from '../hf/export.ts';
import { PretrainedError } from '../hf/errors.ts';
import { makeDirs } from '../runtime/files.ts';
import { valuesOf, type WeightMap } from '../runtime/half.ts';
import { encodeSafetensors, writeAtomic, type TensorEntry } from '../runtime/safetensors.ts';

/** The merged inference graph and its weights, folded in f32 (16-bit frozen weights widened exactly). */
export function mergedModel(spec: ModelSpec, weights: WeightMap, batch: number) {
  const { graph } = lowerModel(spec, { batch, mode: 'infer', merged: true });
  const values = mergeWeights(
    spec,
    Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, Float32Array.from(valuesOf(v))])),
    graph,
  );
  return { graph, values };
}

/** Writes every param of the merged inference graph; returns the number of values written. */
export function exportMerged(path: string, spec: ModelSpec, weights: WeightMap, batch: number): number {
  const { graph, values } = mergedModel(spec, weights, batch);
  const tensors = new Map<string, TensorEntry>();
  let count = 0;
  for (const [name, n] of graph.params()) {
    tensors.set(name, { shape: [...n.shape], data: Float32Array.from(values[name]) });
    count += values[name].length;
  }
  writeAtomic(path, encodeSafetensors(tensors, { format: 'peftgraph-merged-1', spec: JSON.stringify(spec) }));
  return count;
}

/** The files of a source directory that a tokenizer or image processor reads, copied with the tower. */
const INPUT_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.txt',
  'vocab.json',
  'merges.txt',
  'spiece.model',
  'preprocessor_config.json',
];

export const HEAD_FILE = 'head.safetensors';

/**
 * The merged model in HF layout, in `dir`: each tower as save_pretrained writes its base model
 * (`vision/`, `text/`: config.json, model.safetensors, and the tokenizer and processor files of
 * the directories it read), and what HF's towers have no place for (the head, a fusion
 * projection) under peftgraph's names in head.safetensors, with a README.md saying which is
 * which. Only insertions that fold into the towers' own weights can be written so (LoRA without
 * routing, BitFit, IA3, full finetuning); a PEFT module that stays one after merging (adapters,
 * MixPHM, Compacter, routed LoRA) is refused, named.
 */
export function exportMergedHf(
  dir: string,
  spec: ModelSpec,
  weights: WeightMap,
): { towers: Record<string, string>; rest: number; files: string[] } {
  const { graph, values } = mergedModel(spec, weights, 1);
  const params = graph.params();
  const kept = [...params.keys()].filter((k) => !['backbone', 'head'].includes(methodOf(k)));
  if (kept.length) {
    const methods = [...new Set(kept.map(methodOf))];
    throw new PretrainedError(
      `merge --hf: ${methods.join(', ')} stays a module of its own after merging (${kept.slice(0, 2).join(', ')}${kept.length > 2 ? `, ${kept.length - 2} more` : ''}): HF's layout has no place for it. ` +
        "Only insertions that fold into the towers' weights can be written in HF layout (LoRA without routing, BitFit, IA3, full finetuning); write peftgraph's merged file instead (merge --out merged.safetensors)",
    );
  }
  const towers: Record<string, string> = {};
  const consumed = new Set<string>();
  const files: string[] = [];
  const written: { tower: 'vision' | 'text'; t: ReturnType<typeof hfTower> }[] = [];
  // Every tower converted before anything is written: a refusal leaves no half-written directory.
  for (const tower of ['vision', 'text'] as const) {
    if (!spec[tower]) continue;
    const t = hfTower(spec, tower, values, params, join(dir, tower));
    for (const k of t.consumed) consumed.add(k);
    written.push({ tower, t });
  }
  for (const { tower, t } of written) {
    const out = join(dir, tower);
    makeDirs(out);
    writeFileSync(join(out, 'config.json'), JSON.stringify(t.config, null, 1));
    writeAtomic(join(out, 'model.safetensors'), encodeSafetensors(t.tensors, { format: 'pt' }));
    files.push(`${tower}/config.json`, `${tower}/model.safetensors`);
    const sources = [
      spec[tower]!.pretrained?.dir,
      tower === 'text' ? spec.inputs.tokenizer : spec.inputs.processor,
    ].filter((d): d is string => !!d);
    for (const f of INPUT_FILES) {
      const from = sources.map((d) => join(d, f)).find((p) => existsSync(p));
      if (!from) continue;
      copyFileSync(from, join(out, f));
      files.push(`${tower}/${f}`);
    }
    towers[tower] = t.family;
  }
  // The rest: the head and any fusion weights, under our names.
  const rest = new Map<string, TensorEntry>();
  for (const [name, n] of params)
    if (!consumed.has(name)) rest.set(name, { shape: [...n.shape], data: Float32Array.from(values[name]) });
  writeAtomic(
    join(dir, HEAD_FILE),
    encodeSafetensors(rest, { format: 'peftgraph-head-1', spec: JSON.stringify(spec) }),
  );
  files.push(HEAD_FILE);
  writeFileSync(join(dir, 'README.md'), readme(spec, towers, [...rest.keys()]));
  files.push('README.md');
  return { towers, rest: rest.size, files };
}

function readme(spec: ModelSpec, towers: Record<string, string>, rest: string[]): string {
  const folded = spec.insertions.map((p) => p.method);
  return [
    '# Merged model in HF layout',
    '',
    `Written by \`peftgraph merge --hf\`: the base with its trained insertions folded in${folded.length ? ` (${[...new Set(folded)].join(', ')})` : ''}.`,
    '',
    ...Object.entries(towers).map(
      ([t, family]) =>
        `- \`${t}/\`: the ${t} tower as HF's ${family === 'gpt2' ? 'GPT2LMHeadModel' : family === 't5' ? 'T5ForConditionalGeneration' : `${family} base model`} saves it (config.json, model.safetensors; tokenizer and processor files copied from its source); \`AutoModel.from_pretrained('${t}')\` loads it.`,
    ),
    `- \`${HEAD_FILE}\`: what HF's towers have no place for, under peftgraph's names (the spec in its metadata): ${rest.length ? rest.map((r) => `\`${r}\``).join(', ') : 'nothing'}.`,
    '',
  ].join('\n');
}
