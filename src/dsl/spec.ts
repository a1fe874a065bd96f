/**
 * ModelSpec: the plain-data description of a model (backbone + PEFT insertions), validated by
 * zod. It round-trips through JSON; the compiler lowers it to IR. Errors name the field path
 * and the valid values.
 */
import { z } from 'zod';
import { formatIssues, SpecError } from './parse.ts';
import { needsVisual, PeftSpec } from './peft/index.ts';
export { SpecError, parsePart } from './parse.ts';
export { Routing } from './peft/parts.ts';
export { PeftSpec } from './peft/index.ts';

const pos = z.number().int().positive().max(10_000_000);
/** Layer and head counts: beyond any real model, and a typo like 1e9 would build forever. */
const count = pos.max(1000);
/** Sequence lengths: attention masks and position tables are length x length constants. */
const len = pos.max(8192);

/** Activations by their HF names' meaning: erf GELU, tanh GELU (gelu_new), x*sigmoid(1.702x), ReLU. */
export const Activation = z.enum(['gelu', 'gelu_tanh', 'quick_gelu', 'relu']);
export type Activation = z.infer<typeof Activation>;

/** HF-layout checkpoint families the importer reads (src/hf/import.ts). */
export const Family = z.enum(['vit', 'clip_vision', 'bert', 'roberta', 'gpt2', 't5']);
export type Family = z.infer<typeof Family>;

/** Where a tower's weights come from: an HF-layout directory (config.json + safetensors). */
const Pretrained = z.strictObject({ dir: z.string().min(1), family: Family }).optional();

/** Options every transformer stack has; the defaults are peftgraph's own (pre-LN, tanh GELU). */
const stackFields = {
  width: pos.max(65536),
  depth: count,
  heads: count,
  mlpRatio: count.default(4),
  /** FFN hidden width; mlpRatio * width when absent. */
  mlp: pos.optional(),
  act: Activation.default('gelu_tanh'),
  /** Layer norm epsilon. */
  eps: z.number().positive().default(1e-5),
  pretrained: Pretrained,
};

/**
 * ViT-style vision tower. pool 'tanh': final LN over the sequence, pooled = tanh(dense(CLS))
 * (HF ViT). pool 'ln': no final LN over the sequence, pooled = LN(CLS) (CLIP's post_layernorm).
 * pool 'mean': final LN over the sequence, pooled = the mean of the patch states (CLS left
 * out), for a ViT trained through its patch tokens whose CLS was never taught to gather them;
 * no HF ViT layout pools so (export refuses it; the tower's weights are HF ViT's less the pooler).
 */
export const VitSpec = z.strictObject({
  kind: z.literal('vit'),
  image: z.tuple([len, len]),
  channels: pos.default(1),
  patch: pos,
  ...stackFields,
  patchBias: z.boolean().default(true),
  /** LN on the embeddings before the first block (CLIP's pre_layrnorm). */
  embedNorm: z.boolean().default(false),
  pool: z.enum(['tanh', 'ln', 'mean']).default('tanh'),
});

/**
 * Text encoder. norm 'pre' (peftgraph's own): final LN, pooled = masked mean. norm 'post'
 * (BERT, RoBERTa): LN after each residual add, an LN on the embeddings, no final LN.
 */
export const EncoderSpec = z.strictObject({
  kind: z.literal('encoder'),
  vocab: pos,
  maxLen: len,
  ...stackFields,
  norm: z.enum(['pre', 'post']).default('pre'),
  embedNorm: z.boolean().default(false),
  /** Rows of the learned position table (at least maxLen; RoBERTa needs maxLen + padId + 1). */
  positions: pos.optional(),
  /** 'arange': 0..L-1. 'roberta': padId + 1 + (index among non-pad tokens), padId at pads. */
  positionIds: z.enum(['arange', 'roberta']).default('arange'),
  padId: z.number().int().min(0).default(1),
  /** Token-type table rows (BERT: 2); type 0 is added to every token. 0: no table. */
  typeVocab: z.number().int().min(0).default(0),
  /** 'mean': masked mean of the final states. 'cls': tanh(dense(first text token)) (BERT pooler). */
  pool: z.enum(['mean', 'cls']).default('mean'),
});

/** GPT-2-style decoder-only LM: pre-LN, causal, learned positions, final LN, LM head. */
export const DecoderSpec = z.strictObject({
  kind: z.literal('decoder'),
  vocab: pos,
  maxLen: len,
  ...stackFields,
  positions: pos.optional(),
  /** LM head = the token embedding table (GPT-2's default); false: its own weight `text.lm_head`. */
  tied: z.boolean().default(true),
});

/**
 * T5 encoder-decoder: RMS norms, no biases, relative position buckets (bidirectional in the
 * encoder, causal in the decoder, one table per stack in layer 0), unscaled attention, ReLU
 * FFN (v1.0) or gated GELU (v1.1), LM head tied to the embeddings and scaled by width^-1/2.
 */
export const EncDecSpec = z.strictObject({
  kind: z.literal('encdec'),
  vocab: pos,
  maxLen: len,
  targetLen: len,
  width: pos.max(65536),
  ffn: pos,
  encoderDepth: count,
  decoderDepth: count,
  heads: count,
  /** Per-head width (T5's d_kv); width / heads when absent. */
  headDim: pos.optional(),
  act: Activation.default('relu'),
  /** act(x W_gate) * (x W_up) instead of act(x W_up) (T5 v1.1 'gated-gelu'). */
  gated: z.boolean().default(false),
  eps: z.number().positive().default(1e-6),
  buckets: pos.default(32),
  maxDistance: pos.default(128),
  /** LM head = the embedding table, inputs scaled by width^-1/2; false: its own lm head weight. */
  tied: z.boolean().default(true),
  pretrained: Pretrained,
});

export const RedundancySpec = z.strictObject({
  kind: z.literal('redundancy'),
  /** w_red and w_rel: weights of the redundancy and relevance terms in the total loss. */
  red: z.number().min(0).default(0.1),
  rel: z.number().min(0).default(0.02),
  /** lambda of the Barlow-Twins-style term. */
  lambda: z.number().min(0).default(3.9e-3),
});

export const HeadSpec = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('classifier'), answers: pos, loss: z.enum(['bce', 'ce']).default('bce') }),
  /** Language modelling: teacher-forced target tokens (encdec) or next-token prediction (decoder). */
  z.strictObject({ kind: z.literal('lm') }),
  /** No task: inference graphs output each tower's final hidden states and pooled feature. */
  z.strictObject({ kind: z.literal('features') }),
  /**
   * Dense pretraining of an image tower: its patch grid is cut into grid[0] x grid[1] regions,
   * each region's final patch tokens are averaged and classified (CE against integer `labels`
   * [B, regions]); logits [B, regions * classes]. E.g. which digit, or none, in each cell of a
   * scene: every patch token gets a signal, not only the pooled one.
   */
  z.strictObject({ kind: z.literal('regions'), grid: z.tuple([pos, pos]), classes: pos }),
]);

export const TextSpec = z.discriminatedUnion('kind', [EncoderSpec, DecoderSpec, EncDecSpec]);

export const ModelSpec = z
  .strictObject({
    vision: VitSpec.optional(),
    text: TextSpec.optional(),
    /**
     * 'pooled': the vision tower's pooled feature enters the text stream as one prefix token
     * (after the text embeddings) and feeds routing. 'tokens': its whole final hidden state does
     * (VL-T5 style); 'regions': one token per region of the patch grid (visualRegions); routing
     * still uses the pooled feature.
     */
    visualPrefix: z.enum(['pooled', 'tokens', 'regions', 'none']).default('none'),
    /** visualPrefix 'regions': the patch grid cut into this many regions (rows, columns); each region's mean final state is one prefix token (as VL-T5's region features). */
    visualRegions: z.tuple([pos, pos]).optional(),
    /**
     * The visual prefix's own embedding, as VL-T5's visual embedding: each prefix token through a
     * linear projection (vision width -> text width) and a norm, plus a learned embedding per
     * prefix position (params prefix.proj, prefix.ln, prefix.pos). Without it the prefix enters
     * as the vision tower emits it: no position (attention cannot tell region tokens apart
     * except by what the vision tower left in them) and the widths must match.
     */
    visualEmbed: z.boolean().default(false),
    head: HeadSpec,
    /** Globs of backbone params to freeze ('**' = all); PEFT params are always trainable. */
    freeze: z.array(z.string()).default([]),
    insertions: z.array(PeftSpec).default([]),
    regularizers: z.array(RedundancySpec).default([]),
    dropout: z.number().min(0).lt(1, 'must be below 1 (dropout 1 drops everything and rescales by 1/0)').default(0),
    /**
     * Where raw inputs are turned into tensors: a directory with tokenizer.json (questions) and
     * one with preprocessor_config.json (images). Default: the text and vision towers'
     * pretrained directories.
     */
    inputs: z
      .strictObject({ tokenizer: z.string().min(1).optional(), processor: z.string().min(1).optional() })
      .default({}),
    /**
     * Safetensors files in peftgraph's param names whose tensors start those params instead of
     * the init seed (runtime/init-files.ts): what a jointly pretrained model holds outside its HF
     * towers, e.g. its visual prefix embedding or its head.
     */
    init: z
      .array(z.string().min(1))
      .default([])
      .refine((a) => new Set(a).size === a.length, { message: 'names a file twice' }),
  })
  .superRefine((s, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (!s.vision && !s.text) issue(['<spec>'], 'needs a vision tower, a text tower or both');
    if (s.visualPrefix !== 'none' && !(s.vision && s.text))
      issue(['visualPrefix'], `'${s.visualPrefix}' needs a vision and a text tower`);
    if (s.vision && s.text && s.visualPrefix !== 'none' && !s.visualEmbed && s.vision.width !== s.text.width) {
      issue(
        ['vision', 'width'],
        `must equal text.width (${s.text.width}): the visual feature enters the text stream without a projection (visualEmbed: true adds one)`,
      );
    }
    if (s.visualEmbed && s.visualPrefix === 'none')
      issue(['visualEmbed'], "embeds the visual prefix: needs visualPrefix 'pooled', 'tokens' or 'regions'");
    const lmText = s.text?.kind === 'decoder' || s.text?.kind === 'encdec';
    if (s.head.kind === 'lm' && !lmText)
      issue(
        ['head', 'kind'],
        `'lm' needs a text tower of kind 'decoder' or 'encdec' (valid heads here: 'classifier', 'features')`,
      );
    if (s.head.kind === 'classifier' && s.text?.kind === 'decoder')
      issue(['head', 'kind'], `a 'decoder' text tower needs head 'lm' or 'features'`);
    const gridIssues = (grid: [number, number], path: (string | number)[]) => {
      if (!s.vision) return;
      const cells = [s.vision.image[0] / s.vision.patch, s.vision.image[1] / s.vision.patch];
      grid.forEach((g, i) => {
        if (cells[i] % g !== 0)
          issue(
            [...path, i],
            `${g} regions do not divide the ${cells[i]} patches along ${i ? 'width' : 'height'} (image ${s.vision!.image[i]}, patch ${s.vision!.patch})`,
          );
      });
    };
    if (s.visualPrefix === 'regions') {
      if (!s.visualRegions)
        issue(['visualRegions'], "visualPrefix 'regions' needs visualRegions: [rows, columns] of the patch grid");
      else gridIssues(s.visualRegions, ['visualRegions']);
    } else if (s.visualRegions)
      issue(['visualRegions'], `only visualPrefix 'regions' reads it (visualPrefix is '${s.visualPrefix}')`);
    if (s.head.kind === 'regions') {
      if (!s.vision || s.text)
        issue(
          ['head', 'kind'],
          `'regions' classifies an image tower's patch tokens: it needs a vision tower and no text tower`,
        );
      else gridIssues(s.head.grid, ['head', 'grid']);
    }
    s.insertions.forEach((p, i) => {
      if (needsVisual(p) && s.visualPrefix === 'none') {
        issue(
          ['insertions', i, 'routing'],
          `routing '${(p as { routing: string }).routing}' needs visualPrefix 'pooled', 'tokens' or 'regions' (it mixes in the pooled visual feature)`,
        );
      }
    });
  });
export type ModelSpec = z.infer<typeof ModelSpec>;
export type ModelSpecInput = z.input<typeof ModelSpec>;

/** Validates a spec (e.g. parsed JSON); errors list each bad field with the valid values. */
/** A stack's FFN hidden width: `mlp` when given, else mlpRatio * width (stackFields). */
export function ffnWidth(t: { mlp?: number; mlpRatio: number; width: number }): number {
  return t.mlp ?? t.mlpRatio * t.width;
}

export function parseSpec(input: unknown): ModelSpec {
  // A builder (vl.model(...)...) where its spec is expected: say so instead of a field error.
  if (
    typeof input === 'object' &&
    input !== null &&
    'spec' in input &&
    typeof (input as { insert?: unknown }).insert === 'function'
  )
    throw new SpecError('got a model builder (vl.model(...)); pass its spec: builder.spec');
  // A module namespace where its default export is meant (a .ts spec imported from CommonJS).
  if (typeof input === 'object' && input !== null && 'default' in input && !('head' in input))
    throw new SpecError(
      "got a module object (it has a 'default' export); pass the spec module's default export: mod.default.spec, or mod.default for a plain spec",
    );
  const r = ModelSpec.safeParse(input);
  if (r.success) return r.data;
  // A misspelled top-level field (`vison`) makes the cross-field checks misleading ('needs a vision tower'): leave them out then.
  const misspelled = r.error.issues.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0);
  const issues = misspelled ? r.error.issues.filter((i) => i.code !== 'custom') : r.error.issues;
  throw new SpecError(`invalid model spec:\n${formatIssues(issues, [], ModelSpec, input).join('\n')}`);
}
