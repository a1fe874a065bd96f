/**
 * Random-weight checkpoints in HF layout at base sizes (ViT-B/16 at 224, BERT-base) for the
 * scale benchmark: config.json + model.safetensors, keys and shapes as ViTModel and BertModel
 * save them (written from modeling_vit.py / modeling_bert.py, like the fixture script).
 * Tensors are generated and written one at a time.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { prng } from '../src/runtime/init.ts';

type Shapes = [string, number[]][];

const lin = (p: string, out: number, inn: number): Shapes => [
  [`${p}.weight`, [out, inn]],
  [`${p}.bias`, [out]],
];
const ln = (p: string, d: number): Shapes => [
  [`${p}.weight`, [d]],
  [`${p}.bias`, [d]],
];

export const VIT_B16 = {
  model_type: 'vit',
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  layer_norm_eps: 1e-12,
  image_size: 224,
  patch_size: 16,
  num_channels: 3,
  qkv_bias: true,
};
export const BERT_BASE = {
  model_type: 'bert',
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  max_position_embeddings: 512,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
};

function vitShapes(c: typeof VIT_B16): Shapes {
  const d = c.hidden_size;
  const n = (c.image_size / c.patch_size) ** 2;
  const s: Shapes = [['embeddings.cls_token', [1, 1, d]], ['embeddings.position_embeddings', [1, n + 1, d]], ...lin('embeddings.patch_embeddings.projection', d, 0)];
  s[2][1] = [d, c.num_channels, c.patch_size, c.patch_size];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `encoder.layer.${i}`;
    for (const q of ['query', 'key', 'value']) s.push(...lin(`${p}.attention.attention.${q}`, d, d));
    s.push(...lin(`${p}.attention.output.dense`, d, d), ...lin(`${p}.intermediate.dense`, c.intermediate_size, d), ...lin(`${p}.output.dense`, d, c.intermediate_size));
    s.push(...ln(`${p}.layernorm_before`, d), ...ln(`${p}.layernorm_after`, d));
  }
  return [...s, ...ln('layernorm', d), ...lin('pooler.dense', d, d)];
}

function bertShapes(c: typeof BERT_BASE): Shapes {
  const d = c.hidden_size;
  const s: Shapes = [
    ['embeddings.word_embeddings.weight', [c.vocab_size, d]],
    ['embeddings.position_embeddings.weight', [c.max_position_embeddings, d]],
    ['embeddings.token_type_embeddings.weight', [c.type_vocab_size, d]],
    ...ln('embeddings.LayerNorm', d),
  ];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `encoder.layer.${i}`;
    for (const q of ['query', 'key', 'value']) s.push(...lin(`${p}.attention.self.${q}`, d, d));
    s.push(...lin(`${p}.attention.output.dense`, d, d), ...ln(`${p}.attention.output.LayerNorm`, d));
    s.push(...lin(`${p}.intermediate.dense`, c.intermediate_size, d), ...lin(`${p}.output.dense`, d, c.intermediate_size), ...ln(`${p}.output.LayerNorm`, d));
  }
  return [...s, ...lin('pooler.dense', d, d)];
}

/** Writes config.json and model.safetensors (F32, uniform +-0.05, norm scales 1) unless present. */
function writeRandom(dir: string, config: object, shapes: Shapes, seed: number): number {
  const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const total = shapes.reduce((a, [, s]) => a + numel(s), 0);
  if (existsSync(join(dir, 'model.safetensors'))) return total;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 1));
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [k, s] of shapes) {
    header[k] = { dtype: 'F32', shape: s, data_offsets: [off, off + 4 * numel(s)] };
    off += 4 * numel(s);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const tmp = join(dir, 'model.safetensors.tmp');
  const fd = openSync(tmp, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, json);
  const r = prng(seed);
  for (const [k, s] of shapes) {
    const x = new Float32Array(numel(s));
    const norm = /(LayerNorm|layernorm\w*)\.weight$/.test(k);
    for (let i = 0; i < x.length; i++) x[i] = norm ? 1 : (r() - 0.5) * 0.1;
    writeSync(fd, new Uint8Array(x.buffer));
  }
  closeSync(fd);
  renameSync(tmp, join(dir, 'model.safetensors'));
  return total;
}

export function ensureBaseCheckpoints(root: string): { vit: string; bert: string; vitParams: number; bertParams: number } {
  const vit = join(root, 'vit-base-patch16-224');
  const bert = join(root, 'bert-base');
  return { vit, bert, vitParams: writeRandom(vit, VIT_B16, vitShapes(VIT_B16), 16), bertParams: writeRandom(bert, BERT_BASE, bertShapes(BERT_BASE), 17) };
}
