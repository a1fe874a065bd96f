/**
 * Spec errors and the zod helpers that produce them: every builder and spec file reports bad
 * fields as `invalid model spec:` lines naming the field and, for enums, the valid values.
 */
import type { z } from 'zod';
import { UserError } from '../user-error.ts';
import { pointsOfTargets } from './hf-targets.ts';

export class SpecError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'SpecError';
  }
}

/**
 * HF PEFT's and HF Trainer's names for peftgraph's options: a LoraConfig's fields written into a
 * spec, or TrainingArguments' into a training config, are named in the error with the option to
 * use instead.
 */
const HF_NAMES: Record<string, string> = {
  r: "rank (HF PEFT's r)",
  lora_alpha: "alpha (HF PEFT's lora_alpha)",
  lora_dropout: "dropout (HF PEFT's lora_dropout)",
  target_modules:
    "at: insertion points such as 'text.layers.*.attn.{q,v}' (HF PEFT's target_modules names modules; peftgraph names points)",
  modules_to_save:
    "nothing: the head always trains, and freeze() decides which backbone weights do (HF PEFT's modules_to_save)",
  bias: 'nothing for HF PEFT\'s bias="none" (the default here too); a peft.bitfit() insertion for bias="all"',
  task_type: "head (HF PEFT's task_type)",
  // HF Trainer's TrainingArguments, for trainConfig() (train/train-config.ts).
  learning_rate: "lr (HF Trainer's learning_rate)",
  num_train_epochs: "epochs (HF Trainer's num_train_epochs)",
  per_device_train_batch_size: "batch (HF Trainer's per_device_train_batch_size)",
  batch_size: 'batch',
  weight_decay: "optimizer: { kind: 'adamw', weightDecay } (HF Trainer's weight_decay)",
  max_grad_norm: "optimizer: { kind: 'adamw', clip } (HF Trainer's max_grad_norm)",
  warmup_ratio: "schedule: { kind: 'linear', warmup } (HF Trainer's warmup_ratio)",
  lr_scheduler_type: "schedule: { kind: 'linear' | 'cosine' | 'constant' } (HF Trainer's lr_scheduler_type)",
  output_dir: "outDir (HF Trainer's output_dir)",
  resume_from_checkpoint: "resume (HF Trainer's resume_from_checkpoint)",
};

/** Edit distance, for did-you-mean. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/**
 * The option names the object schema at `path` of `schema` accepts. Of a union, the options whose
 * literal fields (kind, method) match the input there; else all of them.
 */
function keysAt(schema: z.ZodType | undefined, path: PropertyKey[], input: unknown): string[] {
  type Def = {
    type: string;
    shape?: Record<string, z.ZodType>;
    innerType?: z.ZodType;
    element?: z.ZodType;
    options?: z.ZodType[];
    in?: z.ZodType;
    values?: unknown[];
  };
  const def = (t: z.ZodType) => (t as unknown as { def: Def }).def;
  const unwrap = (t: z.ZodType | undefined): z.ZodType[] => {
    if (!t) return [];
    const d = def(t);
    if (d.innerType) return unwrap(d.innerType);
    if (d.type === 'pipe' && d.in) return unwrap(d.in);
    if (d.options) return d.options.flatMap(unwrap);
    return [t];
  };
  const fits = (t: z.ZodType, value: unknown) =>
    Object.entries(def(t).shape ?? {}).every(
      ([k, f]) =>
        def(f).type !== 'literal' ||
        typeof value !== 'object' ||
        value === null ||
        !(k in value) ||
        def(f).values?.includes((value as Record<string, unknown>)[k]),
    );
  let at = unwrap(schema);
  let value = input;
  for (const k of path) {
    const narrowed = at.filter((t) => fits(t, value));
    at = (narrowed.length ? narrowed : at).flatMap((t) => {
      const d = def(t);
      if (d.type === 'object' && d.shape && typeof k === 'string') return unwrap(d.shape[k]);
      if (d.type === 'array' && typeof k === 'number') return unwrap(d.element);
      return [];
    });
    value = typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[k] : undefined;
  }
  const narrowed = at.filter((t) => fits(t, value));
  return [...new Set((narrowed.length ? narrowed : at).flatMap((t) => Object.keys(def(t).shape ?? {})))];
}

/** An unknown option's line: HF PEFT's name for one of ours, or the nearest valid one. */
function unknownKey(key: string, valid: string[]): string {
  if (HF_NAMES[key]) return `unknown option '${key}': use ${HF_NAMES[key]}`;
  const near = valid.filter(
    (v) => distance(v.toLowerCase(), key.toLowerCase()) <= Math.max(1, Math.ceil(key.length / 3)),
  );
  return `unknown option '${key}'${near.length ? ` (did you mean '${near[0]}'?)` : ''}${valid.length ? `; valid: ${valid.join(', ')}` : ''}`;
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (v, k) => (typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[k] : undefined),
    input,
  );
}

/** What HF PEFT's target_modules would reach, as peftgraph points. */
function targetsHint(targets: unknown): string {
  const r = pointsOfTargets(targets);
  if (!r) return '';
  const reach = r.points.length
    ? `; ${JSON.stringify(targets)} are, in the HF families peftgraph imports: at: ${r.points.map((p) => `'${p}'`).join(', ')} (keep the towers you mean)`
    : '';
  const none = r.unmatched.length
    ? `; ${r.unmatched.map((t) => `'${t}'`).join(', ')} name${r.unmatched.length === 1 ? 's' : ''} no linear layer of those families`
    : '';
  return reach + none;
}

/** zod issues as lines naming each field (under `prefix`) and, for enums, the valid values; `schema` lets an unknown option name the valid ones. */
export function formatIssues(
  issues: z.core.$ZodIssue[],
  prefix: string[] = [],
  schema?: z.ZodType,
  input?: unknown,
): string[] {
  return issues.flatMap((iss) => {
    const full = [...prefix, ...iss.path.map(String)];
    const path = full.length ? full.join('.') : '<spec>';
    if (iss.code === 'unrecognized_keys')
      return (iss as { keys: string[] }).keys.map(
        (k) =>
          `  ${path}: ${unknownKey(k, keysAt(schema, iss.path, input))}${k === 'target_modules' ? targetsHint(valueAt(input, [...iss.path, k])) : ''}`,
      );
    const i = iss as { values?: unknown[]; options?: unknown[]; discriminator?: string };
    const values = i.values ?? i.options;
    if (i.options && i.discriminator) {
      const given = valueAt(input, iss.path.at(-1) === i.discriminator ? iss.path : [...iss.path, i.discriminator]);
      const near =
        typeof given === 'string'
          ? i.options.filter(
              (v) => typeof v === 'string' && distance(v, given) <= Math.max(1, Math.ceil(given.length / 3)),
            )
          : [];
      return `  ${path}: ${given === undefined ? `no ${i.discriminator}` : `unknown ${i.discriminator} ${JSON.stringify(given)}`}${near.length ? ` (did you mean ${JSON.stringify(near[0])}?)` : ''} (valid: ${i.options.map((v) => JSON.stringify(v)).join(', ')})`;
    }
    // A required option left out: say so, rather than zod's "Invalid input".
    if (
      (iss.code === 'invalid_type' || iss.code === 'invalid_union') &&
      input !== undefined &&
      valueAt(input, iss.path) === undefined
    )
      return `  ${path}: required, missing`;
    if (values) {
      // An enum's value: what was given, the nearest valid one, the valid ones (once: zod's message lists them too).
      const given = input === undefined ? undefined : valueAt(input, iss.path);
      const near =
        typeof given === 'string'
          ? values.filter(
              (v) =>
                typeof v === 'string' &&
                distance(v.toLowerCase(), given.toLowerCase()) <= Math.max(1, Math.ceil(given.length / 3)),
            )
          : [];
      const what = given === undefined ? 'invalid value' : `${JSON.stringify(given)} is not valid`;
      return `  ${path}: ${what}${near.length ? ` (did you mean ${JSON.stringify(near[0])}?)` : ''}; valid: ${values.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    return `  ${path}: ${iss.message}`;
  });
}

/** A builder's part of a spec, validated with errors in parseSpec's form (`where` prefixes the fields). */
export function parsePart<T extends z.ZodType>(schema: T, input: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new SpecError(`invalid model spec:\n${formatIssues(r.error.issues, [where], schema, input).join('\n')}`);
}
