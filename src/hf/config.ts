/**
 * HF `config.json` -> a tower spec with the same architecture, per family. Fields take the
 * defaults of the HF config classes (ViTConfig, CLIPVisionConfig, BertConfig, RobertaConfig,
 * GPT2Config, T5Config) when absent; options peftgraph does not implement are errors that name
 * the field, its value and what is supported, never silently ignored.
 */
import { specPath } from '../dsl/spec-dir.ts';
import { FILE_LIMITS, readText } from '../runtime/files.ts';
import { join } from 'node:path';
import { z } from 'zod';
import { DecoderSpec, EncDecSpec, EncoderSpec, VitSpec, type Activation } from '../dsl/spec.ts';
import { PretrainedError } from './errors.ts';

export type VisionTower = z.infer<typeof VitSpec>;
export type TextTower = z.infer<typeof EncoderSpec> | z.infer<typeof DecoderSpec> | z.infer<typeof EncDecSpec>;

export interface TextOptions {
  /** Tokens per text (the compiled sequence length). Default 64, capped by the position table. */
  maxLen?: number;
  /** encdec with head 'lm': target tokens. Default 16. */
  targetLen?: number;
}

const ACTS: Record<string, Activation> = {
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  quick_gelu: 'quick_gelu',
  relu: 'relu',
};

export type Raw = Record<string, unknown>;

function readConfig(dir: string): Raw {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = readText(path, 'config', FILE_LIMITS.json);
  } catch (e) {
    throw new PretrainedError(
      `${(e as Error).message}; a pretrained directory holds config.json and model.safetensors as save_pretrained writes them`,
    );
  }
  try {
    const c = JSON.parse(text);
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new Error('not an object');
    return c as Raw;
  } catch (e) {
    throw new PretrainedError(`${path}: not a JSON object (${(e as Error).message})`);
  }
}

/** The tower spec a config describes; a value the spec bounds (a width of 1e9) is an error naming the file and field. */
function tower<T extends z.ZodType>(path: string, schema: T, fields: Record<string, unknown>): z.infer<T> {
  const r = schema.safeParse(fields);
  if (r.success) return r.data;
  throw new PretrainedError(
    `${path}: the tower it describes is out of bounds: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
  );
}

/** Reads `config` through a zod schema of the HF fields, with errors naming the file and field. */
function fields<T extends z.ZodType>(path: string, schema: T, config: Raw): z.infer<T> {
  const r = schema.safeParse(config);
  if (r.success) return r.data;
  throw new PretrainedError(`${path}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
}

function act(path: string, field: string, name: string): Activation {
  const a = ACTS[name];
  if (!a)
    throw new PretrainedError(`${path}: ${field} '${name}' is not supported (valid: ${Object.keys(ACTS).join(', ')})`);
  return a;
}

function unsupported(path: string, field: string, value: unknown, ok: unknown): void {
  if (value !== undefined && value !== ok)
    throw new PretrainedError(
      `${path}: ${field} = ${JSON.stringify(value)} is not supported (peftgraph implements ${JSON.stringify(ok)})`,
    );
}

const pos = z.number().int().positive();

/** The stack fields ViT, CLIP, BERT and RoBERTa configs share, in tower-spec terms. */
function stackFrom(
  path: string,
  f: {
    hidden_size: number;
    num_hidden_layers: number;
    num_attention_heads: number;
    intermediate_size: number;
    hidden_act: string;
    layer_norm_eps: number;
  },
) {
  return {
    width: f.hidden_size,
    depth: f.num_hidden_layers,
    heads: f.num_attention_heads,
    mlp: f.intermediate_size,
    act: act(path, 'hidden_act', f.hidden_act),
    eps: f.layer_norm_eps,
  };
}
const size2 = z.union([pos, z.tuple([pos, pos])]);
const pair = (s: number | [number, number]): [number, number] => (Array.isArray(s) ? s : [s, s]);

const VitConfig = z.object({
  hidden_size: pos.default(768),
  num_hidden_layers: pos.default(12),
  num_attention_heads: pos.default(12),
  intermediate_size: pos.default(3072),
  hidden_act: z.string().default('gelu'),
  layer_norm_eps: z.number().positive().default(1e-12),
  image_size: size2.default(224),
  patch_size: size2.default(16),
  num_channels: pos.default(3),
});

const ClipVisionConfig = VitConfig.extend({
  patch_size: size2.default(32),
  hidden_act: z.string().default('quick_gelu'),
  layer_norm_eps: z.number().positive().default(1e-5),
});

function vitFrom(path: string, c: Raw, family: 'vit' | 'clip_vision', dir: string): VisionTower {
  const f = fields(path, family === 'vit' ? VitConfig : ClipVisionConfig, c);
  const [ph, pw] = pair(f.patch_size);
  if (ph !== pw)
    throw new PretrainedError(
      `${path}: patch_size ${ph}x${pw} is not square; peftgraph's patch embedding needs square patches`,
    );
  if (family === 'vit') {
    unsupported(path, 'qkv_bias', c.qkv_bias, true);
    unsupported(path, 'pooler_act', c.pooler_act, 'tanh');
    unsupported(path, 'pooler_output_size', c.pooler_output_size ?? f.hidden_size, f.hidden_size);
  }
  const clip = family === 'clip_vision';
  return tower(path, VitSpec, {
    kind: 'vit',
    image: pair(f.image_size),
    channels: f.num_channels,
    patch: ph,
    ...stackFrom(path, f),
    patchBias: !clip,
    embedNorm: clip,
    pool: clip ? 'ln' : 'tanh',
    pretrained: { dir, family },
  });
}

const BertConfig = z.object({
  vocab_size: pos.default(30522),
  hidden_size: pos.default(768),
  num_hidden_layers: pos.default(12),
  num_attention_heads: pos.default(12),
  intermediate_size: pos.default(3072),
  hidden_act: z.string().default('gelu'),
  max_position_embeddings: pos.default(512),
  type_vocab_size: z.number().int().min(0).default(2),
  layer_norm_eps: z.number().positive().default(1e-12),
  pad_token_id: z.number().int().min(0).default(0),
});

const RobertaConfig = BertConfig.extend({
  vocab_size: pos.default(50265),
  max_position_embeddings: pos.default(514),
  type_vocab_size: z.number().int().min(0).default(1),
  layer_norm_eps: z.number().positive().default(1e-5),
  pad_token_id: z.number().int().min(0).default(1),
});

function bertFrom(path: string, c: Raw, family: 'bert' | 'roberta', dir: string, o: TextOptions): TextTower {
  const f = fields(path, family === 'bert' ? BertConfig : RobertaConfig, c);
  unsupported(path, 'position_embedding_type', c.position_embedding_type, 'absolute');
  unsupported(path, 'is_decoder', c.is_decoder, false);
  const capacity = family === 'roberta' ? f.max_position_embeddings - f.pad_token_id - 1 : f.max_position_embeddings;
  return tower(path, EncoderSpec, {
    kind: 'encoder',
    vocab: f.vocab_size,
    maxLen: maxLen(path, o.maxLen, capacity),
    ...stackFrom(path, f),
    norm: 'post',
    embedNorm: true,
    positions: f.max_position_embeddings,
    positionIds: family === 'roberta' ? 'roberta' : 'arange',
    padId: f.pad_token_id,
    typeVocab: f.type_vocab_size,
    pool: 'cls',
    pretrained: { dir, family },
  });
}

function maxLen(path: string, wanted: number | undefined, capacity: number): number {
  if (wanted !== undefined && wanted > capacity)
    throw new PretrainedError(`${path}: maxLen ${wanted} exceeds the ${capacity} positions this checkpoint has`);
  return wanted ?? Math.min(64, capacity);
}

const Gpt2Config = z.object({
  vocab_size: pos.default(50257),
  n_positions: pos.default(1024),
  n_embd: pos.default(768),
  n_layer: pos.default(12),
  n_head: pos.default(12),
  n_inner: pos.nullable().default(null),
  activation_function: z.string().default('gelu_new'),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  tie_word_embeddings: z.boolean().default(true),
});

function gpt2From(path: string, c: Raw, dir: string, o: TextOptions): TextTower {
  const f = fields(path, Gpt2Config, c);
  unsupported(path, 'scale_attn_weights', c.scale_attn_weights, true);
  unsupported(path, 'scale_attn_by_inverse_layer_idx', c.scale_attn_by_inverse_layer_idx, false);
  unsupported(path, 'add_cross_attention', c.add_cross_attention, false);
  return tower(path, DecoderSpec, {
    kind: 'decoder',
    vocab: f.vocab_size,
    maxLen: maxLen(path, o.maxLen, f.n_positions),
    width: f.n_embd,
    depth: f.n_layer,
    heads: f.n_head,
    mlp: f.n_inner ?? 4 * f.n_embd,
    act: act(path, 'activation_function', f.activation_function),
    eps: f.layer_norm_epsilon,
    positions: f.n_positions,
    tied: f.tie_word_embeddings,
    pretrained: { dir, family: 'gpt2' },
  });
}

const T5Config = z.object({
  vocab_size: pos.default(32128),
  d_model: pos.default(512),
  d_kv: pos.default(64),
  d_ff: pos.default(2048),
  num_layers: pos.default(6),
  num_decoder_layers: pos.nullable().default(null),
  num_heads: pos.default(8),
  relative_attention_num_buckets: pos.default(32),
  relative_attention_max_distance: pos.default(128),
  layer_norm_epsilon: z.number().positive().default(1e-6),
  feed_forward_proj: z.string().default('relu'),
  tie_word_embeddings: z.boolean().default(true),
});

function t5From(path: string, c: Raw, dir: string, o: TextOptions): TextTower {
  const f = fields(path, T5Config, c);
  // As T5Config reads it: '[gated-]act'; 'gated-gelu' means the tanh GELU (gelu_new).
  const parts = f.feed_forward_proj.split('-');
  const gated = parts[0] === 'gated';
  if (parts.length > 2 || (parts.length === 2 && !gated))
    throw new PretrainedError(`${path}: feed_forward_proj '${f.feed_forward_proj}' is not '{act}' or 'gated-{act}'`);
  const actName = f.feed_forward_proj === 'gated-gelu' ? 'gelu_new' : parts[parts.length - 1];
  return tower(path, EncDecSpec, {
    kind: 'encdec',
    vocab: f.vocab_size,
    maxLen: o.maxLen ?? 64,
    targetLen: o.targetLen ?? 16,
    width: f.d_model,
    ffn: f.d_ff,
    encoderDepth: f.num_layers,
    decoderDepth: f.num_decoder_layers ?? f.num_layers,
    heads: f.num_heads,
    headDim: f.d_kv,
    act: act(path, 'feed_forward_proj', actName),
    gated,
    eps: f.layer_norm_epsilon,
    buckets: f.relative_attention_num_buckets,
    maxDistance: f.relative_attention_max_distance,
    tied: f.tie_word_embeddings,
    pretrained: { dir, family: 't5' },
  });
}

export const VISION_TYPES = ['vit', 'clip_vision_model', 'clip'];
export const TEXT_TYPES = ['bert', 'roberta', 'gpt2', 't5'];

function modelType(path: string, c: Raw, valid: string[], other: string[], role: string): string {
  const t = c.model_type;
  if (typeof t !== 'string')
    throw new PretrainedError(`${path}: no "model_type" (supported ${role} types: ${valid.join(', ')})`);
  if (valid.includes(t)) return t;
  const hint = other.includes(t)
    ? ` ('${t}' is a ${role === 'vision' ? 'text' : 'vision'} tower: use hf.${role === 'vision' ? 'text' : 'vision'}())`
    : '';
  throw new PretrainedError(
    `${path}: model_type '${t}' is not a supported ${role} tower (supported: ${valid.join(', ')})${hint}`,
  );
}

/** A vision tower spec from a config object (`path` names it in errors, `dir` is recorded). */
export function visionFromConfig(c: Raw, path: string, dir: string): VisionTower {
  const t = modelType(path, c, VISION_TYPES, TEXT_TYPES, 'vision');
  if (t === 'vit') return vitFrom(path, c, 'vit', dir);
  // A full CLIP checkpoint nests the vision tower's config.
  const vc = t === 'clip' ? ((c.vision_config as Raw | undefined) ?? {}) : c;
  return vitFrom(path, vc, 'clip_vision', dir);
}

/** A text tower spec from a config object. */
export function textFromConfig(c: Raw, path: string, dir: string, o: TextOptions = {}): TextTower {
  const t = modelType(path, c, TEXT_TYPES, VISION_TYPES, 'text');
  if (t === 'bert' || t === 'roberta') return bertFrom(path, c, t, dir, o);
  if (t === 'gpt2') return gpt2From(path, c, dir, o);
  return t5From(path, c, dir, o);
}

/** A vision tower spec from an HF-layout directory (ViT, or CLIP's vision tower). */
export function visionFromDir(where: string): VisionTower {
  const dir = specPath(where);
  return visionFromConfig(readConfig(dir), join(dir, 'config.json'), dir);
}

/** A text tower spec from an HF-layout directory (BERT, RoBERTa, GPT-2, T5). */
export function textFromDir(where: string, o: TextOptions = {}): TextTower {
  const dir = specPath(where);
  return textFromConfig(readConfig(dir), join(dir, 'config.json'), dir, o);
}
