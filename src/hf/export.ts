/**
 * A tower written out as HF's save_pretrained writes its base model: config.json and
 * model.safetensors under the family's key names (the import tables read backwards). A tower
 * is exportable when it is one of the families: the config written here must read back
 * (config.ts) to the same architecture, or the export is refused naming the field that differs.
 */
import { makeDirs } from '../runtime/files.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ffnWidth, type Activation, type Family, type ModelSpec } from '../dsl/spec.ts';
import { encodeSafetensors, writeAtomic, type TensorEntry } from '../runtime/safetensors.ts';
import { textFromConfig, visionFromConfig, type Raw } from './config.ts';
import { PretrainedError } from './errors.ts';
import { transform } from './import.ts';
import { TABLES, ruleApplies, type NameRule } from '../dsl/hf-names.ts';

const HF_ACT: Record<Activation, string> = {
  gelu: 'gelu',
  gelu_tanh: 'gelu_new',
  quick_gelu: 'quick_gelu',
  relu: 'relu',
};

type Tower = NonNullable<ModelSpec['vision']> | NonNullable<ModelSpec['text']>;

/** The family a tower's options make it, or why none fits. */
export function familyOf(t: Tower): Family {
  if (t.pretrained) return t.pretrained.family;
  switch (t.kind) {
    case 'vit':
      if (t.pool === 'mean')
        throw new PretrainedError(
          `vision tower: pool 'mean' has no HF layout (HF ViT pools tanh(dense(CLS)), CLIP LN(CLS)); export it with pool 'tanh' (the same weights and a pooler)`,
        );
      return t.pool === 'ln' ? 'clip_vision' : 'vit';
    case 'encoder':
      if (t.norm !== 'post' || t.pool !== 'cls' || !t.embedNorm)
        throw new PretrainedError(
          `text tower: a BERT/RoBERTa export needs norm 'post', embedNorm and pool 'cls' (this one has norm '${t.norm}', embedNorm ${t.embedNorm}, pool '${t.pool}')`,
        );
      return t.positionIds === 'roberta' ? 'roberta' : 'bert';
    case 'decoder':
      return 'gpt2';
    case 'encdec':
      return 't5';
  }
}

function configFor(t: Tower, family: Family): Raw {
  switch (t.kind) {
    case 'vit': {
      const common = {
        hidden_size: t.width,
        num_hidden_layers: t.depth,
        num_attention_heads: t.heads,
        intermediate_size: ffnWidth(t),
        hidden_act: HF_ACT[t.act],
        layer_norm_eps: t.eps,
        image_size: t.image[0] === t.image[1] ? t.image[0] : t.image,
        patch_size: t.patch,
        num_channels: t.channels,
      };
      return family === 'vit'
        ? { architectures: ['ViTModel'], model_type: 'vit', ...common, qkv_bias: true }
        : { architectures: ['CLIPVisionModel'], model_type: 'clip_vision_model', ...common };
    }
    case 'encoder':
      return {
        architectures: [family === 'roberta' ? 'RobertaModel' : 'BertModel'],
        model_type: family,
        vocab_size: t.vocab,
        hidden_size: t.width,
        num_hidden_layers: t.depth,
        num_attention_heads: t.heads,
        intermediate_size: ffnWidth(t),
        hidden_act: HF_ACT[t.act],
        max_position_embeddings: t.positions ?? t.maxLen,
        type_vocab_size: t.typeVocab,
        layer_norm_eps: t.eps,
        pad_token_id: t.padId,
        position_embedding_type: 'absolute',
      };
    case 'decoder':
      return {
        architectures: ['GPT2LMHeadModel'],
        model_type: 'gpt2',
        vocab_size: t.vocab,
        n_positions: t.positions ?? t.maxLen,
        n_embd: t.width,
        n_layer: t.depth,
        n_head: t.heads,
        n_inner: ffnWidth(t),
        activation_function: HF_ACT[t.act],
        layer_norm_epsilon: t.eps,
        tie_word_embeddings: t.tied,
      };
    case 'encdec':
      return {
        architectures: ['T5ForConditionalGeneration'],
        model_type: 't5',
        vocab_size: t.vocab,
        d_model: t.width,
        d_kv: t.headDim ?? t.width / t.heads,
        d_ff: t.ffn,
        num_layers: t.encoderDepth,
        num_decoder_layers: t.decoderDepth,
        num_heads: t.heads,
        relative_attention_num_buckets: t.buckets,
        relative_attention_max_distance: t.maxDistance,
        layer_norm_epsilon: t.eps,
        feed_forward_proj: t.gated ? (t.act === 'gelu_tanh' ? 'gated-gelu' : `gated-${HF_ACT[t.act]}`) : HF_ACT[t.act],
        tie_word_embeddings: t.tied,
        is_encoder_decoder: true,
        decoder_start_token_id: 0,
        pad_token_id: 0,
      };
  }
}

/** Refuses a config that would not read back to the same tower (an option HF cannot express). */
function checkRoundTrip(t: Tower, config: Raw, dir: string): void {
  const path = join(dir, 'config.json');
  const back: Tower =
    t.kind === 'vit'
      ? visionFromConfig(config, path, dir)
      : textFromConfig(config, path, dir, {
          maxLen: t.maxLen,
          targetLen: t.kind === 'encdec' ? t.targetLen : undefined,
        });
  // Defaults spelled out, so a value left to its default equals the same value written down.
  const norm = (x: Tower) =>
    JSON.parse(
      JSON.stringify({
        ...x,
        pretrained: undefined,
        mlp: x.kind === 'encdec' ? undefined : ffnWidth(x),
        mlpRatio: undefined,
        headDim: x.kind === 'encdec' ? (x.headDim ?? x.width / x.heads) : undefined,
        positions: x.kind === 'encoder' || x.kind === 'decoder' ? (x.positions ?? x.maxLen) : undefined,
      }),
    );
  const [a, b] = [norm(t), norm(back)];
  const differ = Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  if (differ.length)
    throw new PretrainedError(
      `${t.kind} tower: not expressible as ${config.model_type} (${differ.map((k) => `${k}: ${JSON.stringify(a[k])} here, ${JSON.stringify(b[k])} in HF`).join('; ')})`,
    );
}

/**
 * The prefix a key is saved under: the base model class's, except for a GPT-2 with its own LM
 * head, saved as GPT2LMHeadModel does (the base model under `transformer.`, `lm_head.weight` beside
 * it), since the base model class has no head to hold it.
 */
function savePrefix(base: string, t: Tower, r: NameRule): string {
  return t.kind === 'decoder' && !t.tied && r.hf !== 'lm_head.weight' ? 'transformer.' : base;
}

/** Our tensor in HF's layout: the rule's transform undone. */
function toHf(
  r: NameRule,
  shape: readonly number[],
  x: ArrayLike<number>,
  t: Tower,
): { shape: number[]; data: Float32Array } {
  const data = Float32Array.from(x);
  // Our [in, out] matrix transposed back to HF's [out, in]: the import's tiled transpose, run on our shape.
  const transpose = (rows: number) => transform('T', [rows], data);
  switch (r.t) {
    case 'none':
      return { shape: [...shape], data };
    case 'T':
      return { shape: [shape[1], shape[0]], data: transpose(shape[0]) };
    case 'conv': {
      const v = t as NonNullable<ModelSpec['vision']>;
      return { shape: [shape[1], v.channels, v.patch, v.patch], data: transpose(shape[0]) };
    }
    case 'reshape':
      return { shape: r.hfShape === 'lead1' ? [1, ...shape] : [shape[shape.length - 1]], data };
    default:
      return { shape: [...shape], data }; // split parts are joined by the caller
  }
}

/** A tower in HF's layout: its config and tensors by HF key, and which of our params they hold. */
export interface HfTower {
  family: Family;
  config: Raw;
  tensors: Map<string, TensorEntry>;
  /** Our param names the tensors came from. */
  consumed: Set<string>;
}

/** `tower` of `spec` with `weights` in HF's layout (nothing written); refused where HF cannot express it. */
export function hfTower(
  spec: ModelSpec,
  tower: 'vision' | 'text',
  weights: Record<string, ArrayLike<number>>,
  shapes: ReadonlyMap<string, { shape: readonly number[] }>,
  dir: string,
): HfTower {
  const t = spec[tower];
  if (!t) throw new PretrainedError(`export: the spec has no ${tower} tower`);
  const family = familyOf(t);
  const table = TABLES[family];
  const config = configFor(t, family);
  checkRoundTrip(t, config, dir);
  const tensors = new Map<string, TensorEntry>();
  const consumed = new Set<string>();
  const parts = new Map<string, { k: number; shape: number[]; data: Float32Array }[]>();
  for (const r of table.rules) {
    if (r.tied || !ruleApplies(r, t)) continue;
    const re = new RegExp(`^${r.ours.replace(/[.]/g, '\\.').replace('{i}', '(\\d+)')}$`);
    for (const [name, node] of shapes) {
      const m = re.exec(name);
      if (!m) continue;
      const value = weights[name];
      if (!value) throw new PretrainedError(`export: no value for '${name}'`);
      consumed.add(name);
      const key = savePrefix(table.savePrefix, t, r) + r.hf.replace('{i}', m[1] ?? '');
      const hf = toHf(r, node.shape, value, t);
      if (r.t.startsWith('split:')) parts.set(key, [...(parts.get(key) ?? []), { k: Number(r.t.slice(6)), ...hf }]);
      else tensors.set(key, hf);
    }
  }
  // GPT-2's c_attn: q, k, v side by side along the last axis.
  for (const [key, ps] of parts) {
    ps.sort((a, b) => a.k - b.k);
    const last = ps[0].shape[ps[0].shape.length - 1];
    const rows = ps[0].data.length / last;
    const data = new Float32Array(rows * last * ps.length);
    for (let r = 0; r < rows; r++)
      ps.forEach((p, j) => data.set(p.data.subarray(r * last, (r + 1) * last), (r * ps.length + j) * last));
    tensors.set(key, { shape: [...ps[0].shape.slice(0, -1), last * ps.length], data });
  }
  return { family, config, tensors, consumed };
}

/**
 * Writes `tower` ('vision' or 'text') of `spec` with `weights` to `dir` as config.json and
 * model.safetensors; returns the number of tensors written.
 */
export function exportTower(
  spec: ModelSpec,
  tower: 'vision' | 'text',
  weights: Record<string, ArrayLike<number>>,
  shapes: ReadonlyMap<string, { shape: readonly number[] }>,
  dir: string,
): number {
  const { config, tensors } = hfTower(spec, tower, weights, shapes, dir);
  makeDirs(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 1));
  writeAtomic(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  return tensors.size;
}
