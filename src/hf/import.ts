/**
 * Importing HF-layout checkpoints into a model's params, the way `from_pretrained` reports it:
 * every checkpoint key is mapped through its family's table (names.ts), its layout changed as
 * the rule says and its shape checked against the param; params with no key are listed as
 * missing (they keep their initialization), keys with no param as unexpected, and a shape
 * mismatch is an error naming the key, the param and both shapes.
 *
 * `planImport` reads only the safetensors headers (explain uses it: no weights in memory);
 * `loadImport` then reads tensor by tensor, so a load holds the weights once plus one tensor.
 */
import { readJsonFile } from '../runtime/files.ts';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '../compiler/ir/graph.ts';
import { methodOf } from '../compiler/params-report.ts';
import type { Family, ModelSpec } from '../dsl/spec.ts';
import { FLOAT_DTYPES, SafetensorsFile, sameTensor } from '../runtime/safetensors.ts';
import { isHalf, type HalfWeights } from '../runtime/half.ts';
import { loadInitFiles, planInitFiles, type InitFilePlan } from '../runtime/init-files.ts';
import { TABLES, ruleApplies, type FamilyTable, type NameRule, type Transform } from '../dsl/hf-names.ts';
import { PretrainedError } from './errors.ts';

export { PretrainedError };

export interface ImportEntry {
  hf: string;
  /** The key as stored (with a task model's base prefix, if any). */
  stored: string;
  file: string;
  ours: string;
  t: Transform;
  dtype: string;
}

export interface TowerImport {
  tower: string;
  family: Family;
  dir: string;
  files: string[];
  entries: ImportEntry[];
  /** Params the checkpoint does not hold (initialized instead), with the keys that would fill them. */
  missing: { ours: string; hf: string[] }[];
  /** Checkpoint keys no param takes (other tasks' heads, other towers). */
  unexpected: string[];
  /** Tied copies that were present and consumed (e.g. lm_head.weight = the embeddings). */
  tied: string[];
  /** Values per stored dtype. */
  dtypes: Record<string, number>;
}

/** Legacy spellings from_pretrained still reads (LayerNorm gamma/beta in old BERT checkpoints). */
const RENAMES: [RegExp, string][] = [
  [/\.gamma$/, '.weight'],
  [/\.beta$/, '.bias'],
];

const numel = (s: readonly number[]) => s.reduce((p, q) => p * q, 1);

/** The shape a transform gives a stored tensor of shape `s`, or null when it cannot apply. */
function transformedShape(t: Transform, s: number[], target: readonly number[]): number[] | null {
  switch (t) {
    case 'none':
      return s;
    case 'T':
      return s.length === 2 ? [s[1], s[0]] : null;
    case 'conv':
      return s.length === 4 ? [s[1] * s[2] * s[3], s[0]] : null;
    case 'reshape': {
      // Only axes of extent 1 may come or go: a tensor stored transposed ([d, N] for [N, d]) has
      // the same element count and must not pass.
      const squeeze = (x: readonly number[]) => x.filter((d) => d !== 1).join();
      return squeeze(s) === squeeze(target) ? [...target] : null;
    }
    default: {
      const last = s[s.length - 1];
      return last % 3 === 0 ? [...s.slice(0, -1), last / 3] : null;
    }
  }
}

const TRANSFORM_WORDS: Record<Transform, string> = {
  none: '',
  T: ' transposed',
  conv: ' as a matmul (conv kernel flattened, transposed)',
  reshape: ' reshaped',
  'split:0': ' (its first third)',
  'split:1': ' (its second third)',
  'split:2': ' (its last third)',
};

/** Applies a transform to a stored tensor of shape `s`. */
export function transform<A extends Float32Array | Uint16Array>(t: Transform, s: number[], x: A): A {
  if (t === 'none' || t === 'reshape') return x;
  const like = (n: number) => (x instanceof Float32Array ? new Float32Array(n) : new Uint16Array(n)) as A;
  if (t === 'T' || t === 'conv') {
    const rows = s[0];
    const cols = x.length / rows;
    const out = like(x.length);
    // In 32 x 32 tiles: a plain double loop writes with a stride of `rows` and thrashes the cache.
    for (let i0 = 0; i0 < rows; i0 += 32)
      for (let j0 = 0; j0 < cols; j0 += 32) {
        const [i1, j1] = [Math.min(i0 + 32, rows), Math.min(j0 + 32, cols)];
        for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * rows + i] = x[i * cols + j];
      }
    return out;
  }
  const k = Number(t.slice(6));
  const last = s[s.length - 1];
  const part = last / 3;
  const lead = x.length / last;
  const out = like(lead * part);
  for (let r = 0; r < lead; r++) out.set(x.subarray(r * last + k * part, r * last + (k + 1) * part) as never, r * part);
  return out;
}

interface CompiledRule extends NameRule {
  re: RegExp;
}

function compile(table: FamilyTable): CompiledRule[] {
  return table.rules.map((r) => ({
    ...r,
    re: new RegExp(`^${r.hf.replace(/[.]/g, '\\.').replace('{i}', '(\\d+)')}$`),
  }));
}

/** The safetensors files of an HF-layout directory and which file holds each key. */
function checkpointFiles(dir: string): { files: string[]; keyFile?: Map<string, string> } {
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    let weightMap: Record<string, string>;
    try {
      weightMap = (readJsonFile(index, 'shard index') as { weight_map: Record<string, string> }).weight_map;
    } catch (e) {
      throw new PretrainedError((e as Error).message);
    }
    if (!weightMap || typeof weightMap !== 'object' || Array.isArray(weightMap))
      throw new PretrainedError(`${index}: has no "weight_map" object`);
    const keyFile = new Map(Object.entries(weightMap));
    for (const [k, f] of keyFile) {
      // A shard is a plain file name beside the index: never a path out of the checkpoint directory.
      if (typeof f !== 'string' || !/^[^/\\]+$/.test(f) || f === '.' || f === '..')
        throw new PretrainedError(`${index}: weight_map['${k}'] is ${JSON.stringify(f)}, not a file name in ${dir}`);
    }
    const files = [...new Set(keyFile.values())].sort();
    for (const f of files)
      if (!existsSync(join(dir, f))) throw new PretrainedError(`${index}: shard '${f}' is missing from ${dir}`);
    return { files, keyFile };
  }
  if (existsSync(join(dir, 'model.safetensors'))) return { files: ['model.safetensors'] };
  const present = existsSync(dir) ? readdirSync(dir) : null;
  if (!present) throw new PretrainedError(`${dir}: no such directory`);
  const torch = present.filter((f) => f.endsWith('.bin') || f.endsWith('.pt') || f.endsWith('.pth'));
  throw new PretrainedError(
    `${dir}: no model.safetensors or model.safetensors.index.json (found: ${present.join(', ') || 'nothing'}).` +
      (torch.length
        ? ` peftgraph reads safetensors only; convert ${torch[0]} on a machine with transformers: AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`
        : ''),
  );
}

/** The towers of a spec that name a pretrained directory. */
export function pretrainedTowers(spec: ModelSpec) {
  const out: {
    tower: 'vision' | 'text';
    spec: NonNullable<ModelSpec['vision'] | ModelSpec['text']>;
    dir: string;
    family: Family;
  }[] = [];
  if (spec.vision?.pretrained) out.push({ tower: 'vision', spec: spec.vision, ...spec.vision.pretrained });
  if (spec.text?.pretrained) out.push({ tower: 'text', spec: spec.text, ...spec.text.pretrained });
  return out;
}

function planTower(
  tower: string,
  spec: { kind: string; gated?: boolean },
  dir: string,
  family: Family,
  params: ReturnType<Graph['params']>,
): TowerImport {
  const table = TABLES[family];
  const rules = compile(table).filter((r) => ruleApplies(r, spec));
  const { files, keyFile } = checkpointFiles(dir);
  const headers = files.map((f) => SafetensorsFile.open(join(dir, f)));
  try {
    const stored = new Map<string, { file: SafetensorsFile; name: string }>();
    headers.forEach((h, i) => {
      for (const name of h.tensors.keys()) {
        if (keyFile && keyFile.get(name) !== files[i]) continue; // the index names one shard per key
        stored.set(name, { file: h, name });
      }
    });
    if (keyFile)
      for (const k of keyFile.keys())
        if (!stored.has(k))
          throw new PretrainedError(`${dir}: the index puts '${k}' in ${keyFile.get(k)}, which does not hold it`);
    const prefix = table.prefixes.find((p) => [...stored.keys()].some((k) => k.startsWith(p)));
    const imp: TowerImport = {
      tower,
      family,
      dir,
      files,
      entries: [],
      missing: [],
      unexpected: [],
      tied: [],
      dtypes: {},
    };
    const filled = new Map<string, { file: SafetensorsFile; name: string; key: string }>();
    const mismatches: string[] = [];
    const keys: { name: string; key: string; file: SafetensorsFile }[] = [];
    for (const [name, { file }] of stored) {
      let key = prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name;
      for (const [re, to] of RENAMES) key = key.replace(re, to);
      if (!table.ignore.some((re) => re.test(key))) keys.push({ name, key, file });
    }
    /** Fills the params `rules` map `key` to; returns whether any rule took the key. */
    const take = ({ name, key, file }: (typeof keys)[number], tiedPass: boolean): boolean => {
      const info = file.tensors.get(name)!;
      let used = false;
      for (const r of rules) {
        if (!!r.tied !== tiedPass) continue;
        const m = r.re.exec(key);
        if (!m) continue;
        const ours = r.ours.replace('{i}', m[1] ?? '');
        const param = params.get(ours);
        if (!param) continue;
        used = true;
        const source = filled.get(ours);
        if (source) {
          if (!tiedPass) {
            mismatches.push(`'${name}' fills '${ours}', which another key already filled`);
            continue;
          }
          // A tied copy of a param already loaded (lm_head = the embeddings) is consumed, but only
          // when it is one: a different head under a tied config would be silently replaced.
          if (!sameTensor(source.file, source.name, file, name))
            throw new PretrainedError(
              `${dir} (${family}): config.json ties the LM head to the embeddings (tie_word_embeddings: true), but '${name}' differs from '${source.name}'; set "tie_word_embeddings": false to use the checkpoint's own head`,
            );
          imp.tied.push(name);
          continue;
        }
        if (!FLOAT_DTYPES.includes(info.dtype))
          throw new PretrainedError(
            `${file.path}: tensor '${name}' is ${info.dtype}; weights must be ${FLOAT_DTYPES.join(', ')}`,
          );
        const got = transformedShape(r.t, info.shape, param.shape);
        if (!got || got.join() !== param.shape.join()) {
          mismatches.push(
            `'${name}' [${info.shape}]${TRANSFORM_WORDS[r.t]} -> '${ours}' needs [${param.shape}]${got && r.t !== 'none' ? `, got [${got}]` : ''}`,
          );
          continue;
        }
        imp.entries.push({ hf: key, stored: name, file: file.path, ours, t: r.t, dtype: info.dtype });
        imp.dtypes[info.dtype] = (imp.dtypes[info.dtype] ?? 0) + numel(param.shape); // values filled: a fused c_attn counts once per part
        filled.set(ours, { file, name, key });
      }
      return used;
    };
    // Primary keys first, then tied copies: those fill a param only when its own key is absent.
    const rest = keys.filter((k) => !take(k, false));
    for (const k of rest) if (!take(k, true)) imp.unexpected.push(k.name);
    if (mismatches.length) {
      throw new PretrainedError(
        `${dir} (${family}): ${mismatches.length} tensor${mismatches.length > 1 ? 's do' : ' does'} not fit the model (is the spec's ${tower} tower built from this config?):\n  ${mismatches.slice(0, 12).join('\n  ')}${mismatches.length > 12 ? `\n  ... ${mismatches.length - 12} more` : ''}`,
      );
    }
    // Nothing matched: a tower would train on random frozen weights under a pretrained name.
    if (imp.entries.length === 0)
      throw new PretrainedError(
        `${dir} (${family}): no tensor of ${files.join(', ')} fills a param of the ${tower} tower (${stored.size} keys, e.g. ${[...stored.keys()].slice(0, 3).join(', ') || 'none'}); is it a ${family} checkpoint?`,
      );
    for (const [name] of params) {
      if (filled.has(name) || methodOf(name) !== 'backbone' || !table.namespaces.some((n) => name.startsWith(n)))
        continue;
      const hf = rules
        .filter((r) => !r.tied && new RegExp(`^${r.ours.replace(/[.]/g, '\\.').replace('{i}', '(\\d+)')}$`).test(name))
        .map((r) => {
          const i = /\.layers\.(\d+)\./.exec(name)?.[1] ?? '';
          return r.hf.replace('{i}', i);
        });
      imp.missing.push({ ours: name, hf });
    }
    return imp;
  } finally {
    for (const h of headers) h.close();
  }
}

/** Maps every pretrained tower of `spec` onto `graph`'s params, from the checkpoint headers. */
export function planImport(spec: ModelSpec, graph: Graph): TowerImport[] {
  const params = graph.params();
  return pretrainedTowers(spec).map(({ tower, spec: t, dir, family }) => planTower(tower, t, dir, family, params));
}

/**
 * Reads the planned tensors (one at a time) into f32 arrays in the model's layout; with `keep16`,
 * F16 and BF16 tensors stay 16-bit (their bits, laid out the same way), half the host memory, for
 * frozen weights kept in 16 bits on the device.
 */
export function loadImport(plans: TowerImport[], o: { keep16: true }): Record<string, Float32Array | HalfWeights>;
export function loadImport(plans: TowerImport[], o?: { keep16?: false }): Record<string, Float32Array>;
export function loadImport(
  plans: TowerImport[],
  o: { keep16?: boolean } = {},
): Record<string, Float32Array | HalfWeights> {
  const out: Record<string, Float32Array | HalfWeights> = {};
  const open = new Map<string, SafetensorsFile>();
  try {
    for (const p of plans) {
      // GPT-2's c_attn feeds three params: read once.
      const last = { key: '', data: null as Float32Array | HalfWeights | null };
      for (const e of p.entries) {
        let f = open.get(e.file);
        if (!f) open.set(e.file, (f = SafetensorsFile.open(e.file)));
        const half = o.keep16 && (e.dtype === 'F16' || e.dtype === 'BF16');
        const key = `${e.file}:${e.stored}`;
        const data = last.key === key && last.data ? last.data : half ? f.readBits(e.stored) : f.read(e.stored);
        Object.assign(last, { key, data });
        const shape = f.tensors.get(e.stored)!.shape;
        out[e.ours] = isHalf(data)
          ? { dtype: data.dtype, bits: transform(e.t, shape, data.bits) }
          : transform(e.t, shape, data);
      }
    }
  } finally {
    for (const f of open.values()) f.close();
  }
  return out;
}

/** The spec's init files checked against `graph` and against what its tower directories supply (`plans`). */
export function planInit(
  spec: ModelSpec,
  graph: Graph,
  plans: TowerImport[] = planImport(spec, graph),
  o: { skipUnreadable?: boolean } = {},
): InitFilePlan[] {
  return planInitFiles(spec, graph, new Set(plans.flatMap((p) => p.entries.map((e) => e.ours))), o);
}

type Pretrained<W> = { weights: Record<string, W>; plans: TowerImport[]; init: InitFilePlan[]; seconds: number };
/**
 * The pretrained weights of every tower of `spec` that names a directory, in `graph`'s layout,
 * and of its init files (empty when it has neither), with the import reports and the load time.
 */
export function pretrainedWeights(
  spec: ModelSpec,
  graph: Graph,
  o: { keep16: true; skipUnreadableInit?: boolean },
): Pretrained<Float32Array | HalfWeights>;
export function pretrainedWeights(
  spec: ModelSpec,
  graph: Graph,
  o?: { keep16?: false; skipUnreadableInit?: boolean },
): Pretrained<Float32Array>;
export function pretrainedWeights(
  spec: ModelSpec,
  graph: Graph,
  o: { keep16?: boolean; skipUnreadableInit?: boolean } = {},
): Pretrained<Float32Array | HalfWeights> {
  const t0 = performance.now();
  const plans = planImport(spec, graph);
  const init = planInit(spec, graph, plans, { skipUnreadable: o.skipUnreadableInit });
  return {
    weights: { ...(o.keep16 ? loadImport(plans, { keep16: true }) : loadImport(plans)), ...loadInitFiles(init) },
    plans,
    init,
    seconds: (performance.now() - t0) / 1000,
  };
}

const plural = (n: number, w: string) => `${n.toLocaleString('en-US')} ${w}${n === 1 ? '' : 's'}`;

/** The report from_pretrained prints: what loaded, what is missing (initialized), what is unused. */
export function formatImport(plans: TowerImport[], limit = 8): string[] {
  const lines: string[] = [];
  const list = (xs: string[]) =>
    `${xs.slice(0, limit).join(', ')}${xs.length > limit ? `, ... ${xs.length - limit} more` : ''}`;
  for (const p of plans) {
    const values = Object.values(p.dtypes).reduce((a, b) => a + b, 0);
    const dtypes = Object.entries(p.dtypes)
      .map(([d, n]) => `${d} ${plural(n, 'value')}`)
      .join(', ');
    lines.push(
      `${p.tower}: ${p.family} from ${p.dir} (${p.files.length === 1 ? p.files[0] : `${p.files.length} shards`}): ${plural(p.entries.length, 'tensor')} loaded, ${plural(values, 'value')} (${dtypes || 'none'})`,
    );
    if (p.tied.length) lines.push(`  tied copies: ${list(p.tied)}`);
    lines.push(
      p.missing.length
        ? `  missing, initialized: ${list(p.missing.map((m) => (m.hf.length ? `${m.ours} (${m.hf[0]})` : m.ours)))}`
        : '  missing: none',
    );
    lines.push(p.unexpected.length ? `  unexpected, unused: ${list(p.unexpected)}` : '  unexpected: none');
  }
  return lines;
}
