/**
 * Init files (spec.init): safetensors files in peftgraph's param names whose tensors start those
 * params instead of the init seed. They hold what a jointly pretrained model has outside its HF
 * towers, e.g. its visual prefix embedding (as LLaVA ships its projector apart from the language
 * model and the vision tower) or a head. Every tensor must name a param of the model with its
 * exact shape; a name an HF tower directory also supplies, or that two files hold, is refused:
 * one weight, one source. A linear weight W is [in, out] (torch's nn.Linear.weight transposed).
 */
import type { Graph } from '../compiler/ir/graph.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { CheckpointError, FLOAT_DTYPES, SafetensorsFile } from './safetensors.ts';

export interface InitFilePlan {
  file: string;
  /** Param names the file starts, in the file's order. */
  params: string[];
  /** Values per stored dtype. */
  dtypes: Record<string, number>;
}

/**
 * Checks each init file's header against `graph`'s params (`towers`: names HF directories
 * supply). `skipUnreadable`: a file that cannot be opened is left out, for rebuilding the base of
 * a trained checkpoint, whose trainable weights it holds itself; the frozen-weights hash then
 * refuses a base that lacks a frozen weight the file gave.
 */
export function planInitFiles(
  spec: ModelSpec,
  graph: Graph,
  towers: ReadonlySet<string> = new Set(),
  o: { skipUnreadable?: boolean } = {},
): InitFilePlan[] {
  const params = graph.params();
  const seen = new Map<string, string>();
  return spec.init.flatMap((file) => {
    let f: SafetensorsFile;
    try {
      f = SafetensorsFile.open(file);
    } catch (e) {
      if (o.skipUnreadable) return [];
      throw new CheckpointError(
        file,
        `init file (the spec's init): ${(e as Error).message.replace(/^.*?: (cannot read)/, '$1')}; if it moved, give the spec its new path`,
      );
    }
    try {
      const problems: string[] = [];
      const dtypes: Record<string, number> = {};
      for (const [name, t] of f.tensors) {
        const p = params.get(name);
        const n = t.shape.reduce((a, b) => a * b, 1);
        if (!p) problems.push(`'${name}' is not a param of this model${nearby(name, params)}`);
        else if (!FLOAT_DTYPES.includes(t.dtype))
          problems.push(`'${name}' is ${t.dtype}; weights are ${FLOAT_DTYPES.join(', ')}`);
        else if (t.shape.join(',') !== p.shape.join(','))
          problems.push(
            `'${name}' is [${t.shape}], the model's param is [${p.shape}]${t.shape.length === 2 && t.shape.join(',') === [...p.shape].reverse().join(',') ? " (transposed? peftgraph stores a linear weight W as [in, out], the transpose of torch's nn.Linear.weight)" : ''}`,
          );
        else if (towers.has(name)) problems.push(`'${name}' also comes from a pretrained tower directory`);
        else if (seen.has(name)) problems.push(`'${name}' is also in ${seen.get(name)}`);
        seen.set(name, file);
        dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + n;
      }
      if (f.tensors.size === 0) problems.push('holds no tensors');
      if (problems.length)
        throw new CheckpointError(
          file,
          `init file does not fit the model:\n  ${problems.slice(0, 12).join('\n  ')}${problems.length > 12 ? `\n  ... ${problems.length - 12} more` : ''}`,
        );
      return [{ file, params: [...f.tensors.keys()], dtypes }];
    } finally {
      f.close();
    }
  });
}

/** The planned tensors as f32, by param name. */
export function loadInitFiles(plans: InitFilePlan[]): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const p of plans) {
    const f = SafetensorsFile.open(p.file);
    try {
      for (const name of p.params) out[name] = f.read(name);
    } finally {
      f.close();
    }
  }
  return out;
}

/** The report line per file. */
export function formatInitFiles(plans: InitFilePlan[], limit = 6): string[] {
  return plans.map((p) => {
    const values = Object.values(p.dtypes).reduce((a, b) => a + b, 0);
    const names = `${p.params.slice(0, limit).join(', ')}${p.params.length > limit ? `, ... ${p.params.length - limit} more` : ''}`;
    return `init: ${p.file}: ${p.params.length} tensor${p.params.length === 1 ? '' : 's'}, ${values.toLocaleString('en-US')} values (${names})`;
  });
}

/** The params under the unknown name's first component, as a hint at the names meant. */
function nearby(name: string, params: ReturnType<Graph['params']>): string {
  const head = name.split('.')[0];
  const same = [...params.keys()].filter((k) => k.split('.')[0] === head);
  return same.length
    ? ` (params under '${head}.': ${same.slice(0, 6).join(', ')}${same.length > 6 ? ', ...' : ''})`
    : ` (its first part '${head}' names no part of it; its parts: ${[...new Set([...params.keys()].map((k) => k.split('.')[0]))].join(', ')})`;
}
