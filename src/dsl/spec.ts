/**
 * ModelSpec: the plain-data description of a model (backbone + PEFT insertions), validated by
 * zod. It round-trips through JSON; the compiler lowers it to IR. Errors name the field path
 * and the valid values.
 */
import { z } from 'zod';

const pos = z.number().int().positive();

export const VitSpec = z.object({
  kind: z.literal('vit'),
  image: z.tuple([pos, pos]),
  channels: pos.default(1),
  patch: pos,
  width: pos,
  depth: pos,
  heads: pos,
  mlpRatio: pos.default(4),
});

export const EncoderSpec = z.object({
  kind: z.literal('encoder'),
  vocab: pos,
  maxLen: pos,
  width: pos,
  depth: pos,
  heads: pos,
  mlpRatio: pos.default(4),
});

/** T5-style encoder-decoder: RMS norms, no biases, tied embeddings and LM head. */
export const EncDecSpec = z.object({
  kind: z.literal('encdec'),
  vocab: pos,
  maxLen: pos,
  targetLen: pos,
  width: pos,
  ffn: pos,
  encoderDepth: pos,
  decoderDepth: pos,
  heads: pos,
});

export const Routing = z.enum(['none', 'add', 'mul', 'mulExpand', 'inner']);
export type Routing = z.infer<typeof Routing>;

const at = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const share = z.enum(['global', 'layer', 'module', 'none']);

export const LoraSpec = z.object({
  method: z.literal('lora'),
  at,
  rank: pos,
  alpha: z.number().positive().optional(),
  dropout: z.number().min(0).max(1).default(0),
  routing: Routing.default('none'),
});

export const AdapterSpec = z.object({
  method: z.literal('adapter'),
  at,
  /** Bottleneck r = width / reduction (or `bottleneck` directly). */
  reduction: pos.optional(),
  bottleneck: pos.optional(),
  activation: z.enum(['gelu', 'relu']).default('gelu'),
  routing: Routing.default('none'),
});

const phmFields = {
  reduction: pos.optional(),
  bottleneck: pos.optional(),
  /** n: number of Kronecker summands; widths must divide by it. */
  kron: pos.default(4),
  /** k: rank of each W_i = T_i U_i. */
  rank: pos.default(8),
  /** Where the (n x n x n) S lives: one for the model by default. */
  shareS: share.default('global'),
};

export const CompacterSpec = z.object({ method: z.literal('compacter'), at, ...phmFields, activation: z.enum(['gelu', 'relu']).default('gelu') });

export const MixPhmSpec = z.object({
  method: z.literal('mixphm'),
  at,
  experts: pos.default(4),
  ...phmFields,
  /** The down projection is shared by the module's experts; `none` gives each expert its own. */
  shareDown: z.enum(['module', 'none']).default('module'),
  dropout: z.number().min(0).max(1).default(0.5),
  alpha: z.number().default(1),
});

export const AdaMixSpec = z.object({
  method: z.literal('adamix'),
  at,
  experts: pos.default(4),
  reduction: pos.optional(),
  bottleneck: pos.optional(),
  dropout: z.number().min(0).max(1).default(0),
});

export const BitFitSpec = z.object({ method: z.literal('bitfit'), at: at.default('**') });
export const FullSpec = z.object({ method: z.literal('full') });

export const PeftSpec = z.discriminatedUnion('method', [LoraSpec, AdapterSpec, CompacterSpec, MixPhmSpec, AdaMixSpec, BitFitSpec, FullSpec]);
export type PeftSpec = z.infer<typeof PeftSpec>;

export const RedundancySpec = z.object({
  kind: z.literal('redundancy'),
  /** w_red and w_rel: weights of the redundancy and relevance terms in the total loss. */
  red: z.number().min(0).default(0.1),
  rel: z.number().min(0).default(0.02),
  /** lambda of the Barlow-Twins-style term. */
  lambda: z.number().min(0).default(3.9e-3),
});

export const HeadSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('classifier'), answers: pos, loss: z.enum(['bce', 'ce']).default('bce') }),
  z.object({ kind: z.literal('lm') }),
]);

export const ModelSpec = z
  .object({
    vision: VitSpec.optional(),
    text: z.discriminatedUnion('kind', [EncoderSpec, EncDecSpec]),
    /** 'pooled': the ViT's tanh(dense(CLS)) is prepended to the text as one token and feeds routing. */
    visualPrefix: z.enum(['pooled', 'none']).default('none'),
    head: HeadSpec,
    /** Globs of backbone params to freeze ('**' = all); PEFT params are always trainable. */
    freeze: z.array(z.string()).default([]),
    insertions: z.array(PeftSpec).default([]),
    regularizers: z.array(RedundancySpec).default([]),
    dropout: z.number().min(0).max(1).default(0),
  })
  .superRefine((s, ctx) => {
    if (s.visualPrefix === 'pooled' && !s.vision) ctx.addIssue({ code: 'custom', path: ['visualPrefix'], message: "'pooled' needs a vision backbone" });
    if (s.vision && s.text.kind === 'encoder' && s.vision.width !== s.text.width) {
      ctx.addIssue({ code: 'custom', path: ['vision', 'width'], message: `must equal text.width (${s.text.width}): the pooled visual feature enters the text stream without a projection` });
    }
    s.insertions.forEach((p, i) => {
      if ((p.method === 'lora' || p.method === 'adapter') && p.routing !== 'none' && s.visualPrefix !== 'pooled') {
        ctx.addIssue({ code: 'custom', path: ['insertions', i, 'routing'], message: `routing '${p.routing}' needs visualPrefix: 'pooled' (it mixes in the pooled visual feature)` });
      }
    });
  });
export type ModelSpec = z.infer<typeof ModelSpec>;
export type ModelSpecInput = z.input<typeof ModelSpec>;

export class SpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpecError';
  }
}

/** Validates a spec (e.g. parsed JSON); errors list each bad field with the valid values. */
export function parseSpec(input: unknown): ModelSpec {
  const r = ModelSpec.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((iss) => {
    const path = iss.path.length ? iss.path.join('.') : '<spec>';
    const i = iss as { values?: unknown[]; options?: unknown[]; discriminator?: string };
    const values = i.values ?? i.options;
    if (i.options && i.discriminator) return `  ${path}: unknown ${i.discriminator} (valid: ${i.options.map((v) => JSON.stringify(v)).join(', ')})`;
    const valid = values ? ` (valid: ${values.map((v) => JSON.stringify(v)).join(', ')})` : '';
    return `  ${path}: ${iss.message}${valid}`;
  });
  throw new SpecError(`invalid model spec:\n${lines.join('\n')}`);
}
