/**
 * A training config, checked as strictly as a spec: `trainConfig({...})` and `train()` refuse an
 * unknown option (with a did-you-mean, and HF Trainer's names such as `learning_rate` answered
 * with ours), a value out of range, and a plain object missing what trainConfig() fills in. A
 * config that silently kept its default lr because the option was misspelled would train
 * something else than asked.
 */
import { z } from 'zod';
import { formatIssues } from '../dsl/parse.ts';
import { UserError } from '../user-error.ts';

export class TrainConfigError extends UserError {
  override name = 'TrainConfigError';
}

const rate = z.number().min(0).max(1);
const Optimizer = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('adamw'),
    beta1: rate.lt(1).optional(),
    beta2: rate.lt(1).optional(),
    eps: z.number().positive().optional(),
    weightDecay: z.number().min(0).optional(),
    clip: z.number().min(0).optional(),
  }),
  z.strictObject({
    kind: z.literal('sgd'),
    momentum: rate.lt(1).optional(),
    weightDecay: z.number().min(0).optional(),
    clip: z.number().min(0).optional(),
  }),
]);
const Schedule = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('constant') }),
  z.strictObject({ kind: z.literal('linear'), warmup: rate.optional() }),
  z.strictObject({ kind: z.literal('cosine'), warmup: rate.optional() }),
]);
const record = z.custom<Record<string, unknown>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) && !(v instanceof Map),
  {
    message:
      'expected a record of param name -> weights (e.g. pretrainedWeights(spec, graph).weights), not a path, a Map or an array',
  },
);

/** Every option; `.partial()` checks what a caller hands trainConfig(). */
export const TrainConfigSchema = z.strictObject({
  epochs: z.number().int().min(1).max(1_000_000),
  batch: z.number().int().min(1).max(65536),
  lr: z.number().min(0),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1),
  optimizer: Optimizer,
  schedule: Schedule,
  evalEvery: z.number().int().min(1),
  patience: z.number().int().min(0),
  minDelta: z.number().min(0),
  outDir: z.string().min(1).optional(),
  backbone: record.optional(),
  inputs: z.record(z.string(), z.string()).optional(),
  ignoreUnknownBackbone: z.boolean().optional(),
  resume: z.string().min(1).optional(),
  allowMismatch: z.boolean().optional(),
  plan: z
    .custom<object>((v) => typeof v === 'object' && v !== null, { message: 'expected PlanOptions (an object)' })
    .optional(),
  cacheFrozen: z.boolean().optional(),
  cacheOnDevice: z.boolean().optional(),
  autotune: z.enum(['cache', 'run', 'off']).optional(),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { message: 'expected an AbortSignal' }).optional(),
});

function fail(issues: z.core.$ZodIssue[], schema: z.ZodType, input: unknown, hint = ''): never {
  throw new TrainConfigError(
    `invalid training config:\n${formatIssues(issues, ['cfg'], schema, input).join('\n')}${hint}`,
  );
}

/** The options a caller gives trainConfig(): known, and in range. */
export function checkPartialConfig(o: unknown): void {
  const schema = TrainConfigSchema.partial();
  const r = schema.safeParse(o);
  if (!r.success) fail(r.error.issues, schema, o);
}

/** A whole config, as train() takes it: a plain object missing options is told to use trainConfig(). */
export function checkTrainConfig(cfg: unknown): void {
  const r = TrainConfigSchema.safeParse(cfg);
  if (r.success) return;
  const missing = r.error.issues.some(
    (i) =>
      i.code === 'invalid_type' &&
      i.path.length === 1 &&
      (cfg as Record<PropertyKey, unknown>)?.[i.path[0]] === undefined,
  );
  fail(
    r.error.issues,
    TrainConfigSchema,
    cfg,
    missing ? '\n  build it with trainConfig({ ... }), which fills in the defaults of the options not given' : '',
  );
}
