/**
 * Checks a dataset against the model it feeds, before any GPU work: every example holds
 * exactly the model's per-example inputs (an unknown key is an error with a did-you-mean), of
 * the right length, with token ids that are integers inside the vocabulary, masks of 0/1 that
 * keep at least one token, finite pixels and soft targets in [0, 1]. The GPU would otherwise
 * clamp, drop or zero-fill what the CPU reference rejects, and train on it silently.
 */
import type { Graph } from '../compiler/ir/graph.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { DataError } from '../data/errors.ts';
import type { Dataset } from '../runtime/batches.ts';
import { RUNTIME_INPUT, ruleFor, valuesProblem, type InputRule } from '../runtime/input-rules.ts';

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** The per-example inputs a model takes: name -> values per example, and the rule its values follow (runtime/input-rules.ts). */
export function exampleInputs(
  graph: Graph,
  spec: ModelSpec,
): Map<string, { size: number; shape: number[]; rule: InputRule }> {
  const out = new Map<string, { size: number; shape: number[]; rule: InputRule }>();
  const vocab = spec.text?.vocab ?? 0;
  const answers =
    spec.head.kind === 'classifier' ? spec.head.answers : spec.head.kind === 'regions' ? spec.head.classes : 0;
  for (const [name, node] of graph.inputs()) {
    if (RUNTIME_INPUT.test(name)) continue;
    const shape = node.shape.slice(1);
    out.set(name, { size: shape.reduce((a, b) => a * b, 1), shape, rule: ruleFor(name, vocab, answers) });
  }
  return out;
}

/** Throws a DataError naming the split, example, input and value at the first problem. */
export function validateDataset(split: string, ds: unknown, graph: Graph, spec: ModelSpec): Dataset {
  const examples = (ds as Dataset | undefined)?.examples;
  if (!Array.isArray(examples))
    throw new DataError(
      `${split}: a split is { examples: [...] }, got ${Array.isArray(ds) ? 'a bare list (wrap it: { examples })' : typeof ds === 'object' && ds ? `an object with ${Object.keys(ds).join(', ') || 'no keys'}` : JSON.stringify(ds)}`,
    );
  if (examples.length === 0) throw new DataError(`${split}: no examples`);
  const inputs = exampleInputs(graph, spec);
  const described = [...inputs].map(([k, v]) => `${k} [${v.shape.join('x') || '1'}]`).join(', ');
  examples.forEach((e, i) => {
    const where = `${split}: example ${i}`;
    if (typeof e !== 'object' || e === null) throw new DataError(`${where} is not an object of inputs (${described})`);
    for (const key of Object.keys(e)) {
      if (inputs.has(key)) continue;
      const near = [...inputs.keys()].filter((k) => distance(k, key) <= 2);
      throw new DataError(
        `${where}: '${key}' is not an input of this model${near.length ? ` (did you mean '${near[0]}'?)` : ''}; its inputs: ${described}`,
      );
    }
    for (const [name, want] of inputs) {
      const v = (e as Record<string, ArrayLike<number> | undefined>)[name];
      if (v === undefined) throw new DataError(`${where}: no '${name}' (the model needs ${described})`);
      if (typeof v !== 'object' || v === null || typeof v.length !== 'number')
        throw new DataError(`${where}: '${name}' must be an array of numbers`);
      if (v.length !== want.size)
        throw new DataError(
          `${where}: '${name}' has ${v.length} values, the model takes ${want.size} ([${want.shape.join(', ')}])`,
        );
      const bad = valuesProblem(want.rule, v, want.size);
      if (bad)
        throw new DataError(`${where}: '${name}'${bad.startsWith('[') ? bad : ` ${bad.replace(/^row 0 /, '')}`}`);
    }
  });
  return ds as Dataset;
}
