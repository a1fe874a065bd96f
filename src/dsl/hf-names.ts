/**
 * HF checkpoint key -> peftgraph param name, one table per family. Each rule names an HF key
 * (`{i}`: a layer index), the param it fills and how the tensor is laid out differently:
 *   T        nn.Linear's [out, in] -> our [in, out]
 *   conv     Conv2d [out, c, kh, kw] -> [c * kh * kw, out] (patch embedding as a matmul)
 *   reshape  same values, our shape ([1, N, d] -> [N, d], [d] -> [1, 1, d])
 *   split:k  part k of 3 along the last axis (GPT-2's fused c_attn; Conv1D is already [in, out])
 * A rule marked `tied` is an alias HF may or may not save (tied embeddings): it is consumed
 * when present and never reported missing. The keys come from the HF modeling files
 * (modeling_vit.py, modeling_clip.py, modeling_bert.py, modeling_roberta.py, modeling_gpt2.py,
 * modeling_t5.py); the keys.json of each fixture in test/fixtures/hf lists them.
 */
import type { Family } from './spec.ts';

export type Transform = 'none' | 'T' | 'conv' | 'reshape' | 'split:0' | 'split:1' | 'split:2';

export interface NameRule {
  hf: string;
  ours: string;
  t: Transform;
  tied?: boolean;
  /** For 'reshape': HF's shape from ours (export needs it): a leading 1 added, or only the last axis kept. */
  hfShape?: 'lead1' | 'last';
  /** Only for gated (T5 v1.1: wi_0, wi_1) or plain (v1.0: wi) feed-forward layers. */
  only?: 'gated' | 'plain';
  /** An LM head's rule: only for a tower whose head is tied to the embeddings (the copy) or untied (its own weight). */
  head?: 'tied' | 'untied';
}

/** Whether a rule belongs to this tower's variant of the family. */
export function ruleApplies(r: NameRule, tower: { kind: string; gated?: boolean; tied?: boolean }): boolean {
  if (r.head && (r.head === 'tied') !== (tower.tied ?? true)) return false;
  return !r.only || (r.only === 'gated') === !!tower.gated;
}

export interface FamilyTable {
  /** Base-model prefixes task checkpoints carry (`vit.` in ViTForImageClassification, ...). */
  prefixes: string[];
  /** The prefix the base model class itself saves (CLIPVisionModel: `vision_model.`). */
  savePrefix: string;
  /** Where the family's params live in a peftgraph model. */
  namespaces: string[];
  rules: NameRule[];
  /** Buffers HF saves that are not weights (position id tables, causal masks). */
  ignore: RegExp[];
}

const rule = (hf: string, ours: string, t: Transform = 'none', tied = false): NameRule => ({
  hf,
  ours,
  t,
  ...(tied ? { tied } : {}),
});
const reshape = (hf: string, ours: string, hfShape: 'lead1' | 'last'): NameRule => ({
  hf,
  ours,
  t: 'reshape',
  hfShape,
});
/** nn.Linear weight (transposed) and bias. */
const linear = (hf: string, ours: string): NameRule[] => [
  rule(`${hf}.weight`, `${ours}.W`, 'T'),
  rule(`${hf}.bias`, `${ours}.b`),
];
/** GPT-2's Conv1D: already [in, out]. */
const conv1d = (hf: string, ours: string): NameRule[] => [
  rule(`${hf}.weight`, `${ours}.W`),
  rule(`${hf}.bias`, `${ours}.b`),
];
const layerNorm = (hf: string, ours: string): NameRule[] => [
  rule(`${hf}.weight`, `${ours}.g`),
  rule(`${hf}.bias`, `${ours}.b`),
];
/** Bias-free linear (T5). */
const weightOnly = (hf: string, ours: string): NameRule => rule(`${hf}.weight`, `${ours}.W`, 'T');

const vitLayer = (hf: string, ours: string): NameRule[] => [
  ...layerNorm(`${hf}.layernorm_before`, `${ours}.ln1`),
  ...linear(`${hf}.attention.attention.query`, `${ours}.attn.q`),
  ...linear(`${hf}.attention.attention.key`, `${ours}.attn.k`),
  ...linear(`${hf}.attention.attention.value`, `${ours}.attn.v`),
  ...linear(`${hf}.attention.output.dense`, `${ours}.attn.o`),
  ...layerNorm(`${hf}.layernorm_after`, `${ours}.ln2`),
  ...linear(`${hf}.intermediate.dense`, `${ours}.ffn.up`),
  ...linear(`${hf}.output.dense`, `${ours}.ffn.down`),
];

const bertLayer = (hf: string, ours: string): NameRule[] => [
  ...linear(`${hf}.attention.self.query`, `${ours}.attn.q`),
  ...linear(`${hf}.attention.self.key`, `${ours}.attn.k`),
  ...linear(`${hf}.attention.self.value`, `${ours}.attn.v`),
  ...linear(`${hf}.attention.output.dense`, `${ours}.attn.o`),
  ...layerNorm(`${hf}.attention.output.LayerNorm`, `${ours}.ln1`),
  ...linear(`${hf}.intermediate.dense`, `${ours}.ffn.up`),
  ...linear(`${hf}.output.dense`, `${ours}.ffn.down`),
  ...layerNorm(`${hf}.output.LayerNorm`, `${ours}.ln2`),
];

const bertTable = (prefix: string): FamilyTable => ({
  prefixes: [prefix],
  savePrefix: '',
  namespaces: ['text.'],
  rules: [
    rule('embeddings.word_embeddings.weight', 'text.embed.tok'),
    rule('embeddings.position_embeddings.weight', 'text.embed.pos'),
    rule('embeddings.token_type_embeddings.weight', 'text.embed.type'),
    ...layerNorm('embeddings.LayerNorm', 'text.embed.ln'),
    ...bertLayer('encoder.layer.{i}', 'text.layers.{i}'),
    ...linear('pooler.dense', 'text.pooler'),
  ],
  ignore: [/^embeddings\.position_ids$/, /^embeddings\.token_type_ids$/],
});

const t5Attention = (hf: string, ours: string): NameRule[] =>
  ['q', 'k', 'v', 'o'].map((p) => weightOnly(`${hf}.${p}`, `${ours}.${p}`));
/** T5 v1.0 has one `wi`; v1.1 (gated) has `wi_0` (activated) and `wi_1` (linear). */
const t5Ffn = (hf: string, ours: string): NameRule[] => [
  { ...weightOnly(`${hf}.DenseReluDense.wi`, `${ours}.ffn.up`), only: 'plain' },
  { ...weightOnly(`${hf}.DenseReluDense.wi_0`, `${ours}.ffn.gate`), only: 'gated' },
  { ...weightOnly(`${hf}.DenseReluDense.wi_1`, `${ours}.ffn.up`), only: 'gated' },
  weightOnly(`${hf}.DenseReluDense.wo`, `${ours}.ffn.down`),
];
const rms = (hf: string, ours: string): NameRule => rule(`${hf}.weight`, `${ours}.g`);

export const TABLES: Record<Family, FamilyTable> = {
  vit: {
    prefixes: ['vit.'],
    savePrefix: '',
    namespaces: ['vision.'],
    rules: [
      rule('embeddings.cls_token', 'vision.cls'),
      reshape('embeddings.position_embeddings', 'vision.pos', 'lead1'),
      rule('embeddings.patch_embeddings.projection.weight', 'vision.patch.W', 'conv'),
      rule('embeddings.patch_embeddings.projection.bias', 'vision.patch.b'),
      ...vitLayer('encoder.layer.{i}', 'vision.layers.{i}'),
      ...layerNorm('layernorm', 'vision.ln_f'),
      ...linear('pooler.dense', 'vision.pooler'),
    ],
    ignore: [],
  },
  clip_vision: {
    prefixes: ['vision_model.'],
    savePrefix: 'vision_model.',
    namespaces: ['vision.'],
    rules: [
      reshape('embeddings.class_embedding', 'vision.cls', 'last'),
      rule('embeddings.patch_embedding.weight', 'vision.patch.W', 'conv'),
      rule('embeddings.position_embedding.weight', 'vision.pos'),
      ...layerNorm('pre_layrnorm', 'vision.ln_pre'),
      ...layerNorm('encoder.layers.{i}.layer_norm1', 'vision.layers.{i}.ln1'),
      ...linear('encoder.layers.{i}.self_attn.q_proj', 'vision.layers.{i}.attn.q'),
      ...linear('encoder.layers.{i}.self_attn.k_proj', 'vision.layers.{i}.attn.k'),
      ...linear('encoder.layers.{i}.self_attn.v_proj', 'vision.layers.{i}.attn.v'),
      ...linear('encoder.layers.{i}.self_attn.out_proj', 'vision.layers.{i}.attn.o'),
      ...layerNorm('encoder.layers.{i}.layer_norm2', 'vision.layers.{i}.ln2'),
      ...linear('encoder.layers.{i}.mlp.fc1', 'vision.layers.{i}.ffn.up'),
      ...linear('encoder.layers.{i}.mlp.fc2', 'vision.layers.{i}.ffn.down'),
      ...layerNorm('post_layernorm', 'vision.ln_f'),
    ],
    ignore: [/^embeddings\.position_ids$/],
  },
  bert: bertTable('bert.'),
  roberta: bertTable('roberta.'),
  gpt2: {
    prefixes: ['transformer.'],
    savePrefix: '',
    namespaces: ['text.'],
    rules: [
      rule('wte.weight', 'text.embed.tok'),
      rule('wpe.weight', 'text.embed.pos'),
      ...layerNorm('h.{i}.ln_1', 'text.layers.{i}.ln1'),
      ...(['q', 'k', 'v'] as const).flatMap((p, k) => [
        rule('h.{i}.attn.c_attn.weight', `text.layers.{i}.attn.${p}.W`, `split:${k}` as Transform),
        rule('h.{i}.attn.c_attn.bias', `text.layers.{i}.attn.${p}.b`, `split:${k}` as Transform),
      ]),
      ...conv1d('h.{i}.attn.c_proj', 'text.layers.{i}.attn.o'),
      ...layerNorm('h.{i}.ln_2', 'text.layers.{i}.ln2'),
      ...conv1d('h.{i}.mlp.c_fc', 'text.layers.{i}.ffn.up'),
      ...conv1d('h.{i}.mlp.c_proj', 'text.layers.{i}.ffn.down'),
      ...layerNorm('ln_f', 'text.ln_f'),
      { ...rule('lm_head.weight', 'text.lm_head'), head: 'untied' },
      { ...rule('lm_head.weight', 'text.embed.tok', 'none', true), head: 'tied' },
    ],
    ignore: [/^h\.\d+\.attn\.(masked_)?bias$/],
  },
  t5: {
    prefixes: [],
    savePrefix: '',
    namespaces: ['shared.', 'encoder.', 'decoder.'],
    rules: [
      rule('shared.weight', 'shared.embed'),
      rule('encoder.embed_tokens.weight', 'shared.embed', 'none', true),
      rule('decoder.embed_tokens.weight', 'shared.embed', 'none', true),
      rms('encoder.block.{i}.layer.0.layer_norm', 'encoder.layers.{i}.ln1'),
      ...t5Attention('encoder.block.{i}.layer.0.SelfAttention', 'encoder.layers.{i}.attn'),
      rule('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', 'encoder.layers.0.attn.relbias'),
      rms('encoder.block.{i}.layer.1.layer_norm', 'encoder.layers.{i}.ln2'),
      ...t5Ffn('encoder.block.{i}.layer.1', 'encoder.layers.{i}'),
      rms('encoder.final_layer_norm', 'encoder.ln_f'),
      rms('decoder.block.{i}.layer.0.layer_norm', 'decoder.layers.{i}.ln1'),
      ...t5Attention('decoder.block.{i}.layer.0.SelfAttention', 'decoder.layers.{i}.attn'),
      rule('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', 'decoder.layers.0.attn.relbias'),
      rms('decoder.block.{i}.layer.1.layer_norm', 'decoder.layers.{i}.lnx'),
      ...t5Attention('decoder.block.{i}.layer.1.EncDecAttention', 'decoder.layers.{i}.cross'),
      rms('decoder.block.{i}.layer.2.layer_norm', 'decoder.layers.{i}.ln2'),
      ...t5Ffn('decoder.block.{i}.layer.2', 'decoder.layers.{i}'),
      rms('decoder.final_layer_norm', 'decoder.ln_f'),
      { ...rule('lm_head.weight', 'decoder.lm_head'), head: 'untied' },
      { ...rule('lm_head.weight', 'shared.embed', 'none', true), head: 'tied' },
    ],
    // Layer 0's cross-attention has no relative bias; old checkpoints saved an unused one.
    ignore: [/^decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight$/],
  },
};
