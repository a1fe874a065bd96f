/**
 * Random-weight checkpoints in HF layout at the seeds' real sizes for the scale benchmarks:
 * ViT-B/16 and ViT-L/16 at 224 (with their preprocessor_config.json), BERT-base, RoBERTa-base and -large (with a
 * byte-level BPE tokenizer.json of the full 50,265-entry vocabulary), GPT-2 small and T5-base:
 * config.json + model.safetensors, keys and shapes as ViTModel, BertModel, RobertaModel,
 * GPT2Model and T5ForConditionalGeneration save them (written from modeling_vit.py,
 * modeling_bert.py, modeling_roberta.py, modeling_gpt2.py and modeling_t5.py, like the fixture
 * script). Tensors are generated and written one at a time.
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

export const VIT_L16 = {
  ...VIT_B16,
  hidden_size: 1024,
  num_hidden_layers: 24,
  num_attention_heads: 16,
  intermediate_size: 4096,
};
export const ROBERTA_BASE = {
  ...BERT_BASE,
  model_type: 'roberta',
  vocab_size: 50265,
  max_position_embeddings: 514,
  type_vocab_size: 1,
  layer_norm_eps: 1e-5,
  pad_token_id: 1,
};
export const ROBERTA_LARGE = {
  ...ROBERTA_BASE,
  hidden_size: 1024,
  num_hidden_layers: 24,
  num_attention_heads: 16,
  intermediate_size: 4096,
};
export const GPT2_SMALL = {
  model_type: 'gpt2',
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  n_inner: null,
  activation_function: 'gelu_new',
  layer_norm_epsilon: 1e-5,
  tie_word_embeddings: true,
};
export const T5_BASE = {
  model_type: 't5',
  vocab_size: 32128,
  d_model: 768,
  d_kv: 64,
  d_ff: 3072,
  num_layers: 12,
  num_decoder_layers: 12,
  num_heads: 12,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  layer_norm_epsilon: 1e-6,
  feed_forward_proj: 'relu',
  tie_word_embeddings: true,
};

function vitShapes(c: typeof VIT_B16): Shapes {
  const d = c.hidden_size;
  const n = (c.image_size / c.patch_size) ** 2;
  const s: Shapes = [
    ['embeddings.cls_token', [1, 1, d]],
    ['embeddings.position_embeddings', [1, n + 1, d]],
    ...lin('embeddings.patch_embeddings.projection', d, 0),
  ];
  s[2][1] = [d, c.num_channels, c.patch_size, c.patch_size];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `encoder.layer.${i}`;
    for (const q of ['query', 'key', 'value']) s.push(...lin(`${p}.attention.attention.${q}`, d, d));
    s.push(
      ...lin(`${p}.attention.output.dense`, d, d),
      ...lin(`${p}.intermediate.dense`, c.intermediate_size, d),
      ...lin(`${p}.output.dense`, d, c.intermediate_size),
    );
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
    s.push(
      ...lin(`${p}.intermediate.dense`, c.intermediate_size, d),
      ...lin(`${p}.output.dense`, d, c.intermediate_size),
      ...ln(`${p}.output.LayerNorm`, d),
    );
  }
  return [...s, ...lin('pooler.dense', d, d)];
}

function gpt2Shapes(c: typeof GPT2_SMALL): Shapes {
  const d = c.n_embd;
  const conv = (p: string, inn: number, out: number): Shapes => [
    [`${p}.weight`, [inn, out]],
    [`${p}.bias`, [out]],
  ];
  const s: Shapes = [
    ['wte.weight', [c.vocab_size, d]],
    ['wpe.weight', [c.n_positions, d]],
  ];
  for (let i = 0; i < c.n_layer; i++) {
    const p = `h.${i}`;
    s.push(
      ...ln(`${p}.ln_1`, d),
      ...conv(`${p}.attn.c_attn`, d, 3 * d),
      ...conv(`${p}.attn.c_proj`, d, d),
      ...ln(`${p}.ln_2`, d),
    );
    s.push(...conv(`${p}.mlp.c_fc`, d, 4 * d), ...conv(`${p}.mlp.c_proj`, 4 * d, d));
  }
  return [...s, ...ln('ln_f', d)];
}

function t5Shapes(c: typeof T5_BASE): Shapes {
  const [d, inner] = [c.d_model, c.num_heads * c.d_kv];
  const attn = (p: string): Shapes => [
    [`${p}.q.weight`, [inner, d]],
    [`${p}.k.weight`, [inner, d]],
    [`${p}.v.weight`, [inner, d]],
    [`${p}.o.weight`, [d, inner]],
  ];
  const ffn = (p: string): Shapes => [
    [`${p}.DenseReluDense.wi.weight`, [c.d_ff, d]],
    [`${p}.DenseReluDense.wo.weight`, [d, c.d_ff]],
    [`${p}.layer_norm.weight`, [d]],
  ];
  const s: Shapes = [['shared.weight', [c.vocab_size, d]]];
  for (const [stack, n] of [
    ['encoder', c.num_layers],
    ['decoder', c.num_decoder_layers],
  ] as const) {
    for (let i = 0; i < n; i++) {
      const p = `${stack}.block.${i}.layer`;
      s.push(...attn(`${p}.0.SelfAttention`), [`${p}.0.layer_norm.weight`, [d]]);
      if (i === 0)
        s.push([
          `${p}.0.SelfAttention.relative_attention_bias.weight`,
          [c.relative_attention_num_buckets, c.num_heads],
        ]);
      if (stack === 'decoder')
        s.push(...attn(`${p}.1.EncDecAttention`), [`${p}.1.layer_norm.weight`, [d]], ...ffn(`${p}.2`));
      else s.push(...ffn(`${p}.1`));
    }
    s.push([`${stack}.final_layer_norm.weight`, [d]]);
  }
  return s;
}

/** GPT-2's byte-to-character table (the byte-level BPE alphabet): printable bytes map to themselves. */
function byteAlphabet(): string[] {
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(keep(b) ? b : 256 + extra++));
}

/**
 * A byte-level BPE tokenizer.json for random weights: `specials` first, the byte-level alphabet,
 * placeholder entries up to `vocab` ids, `tail` specials last; no merges (each byte is a token),
 * so ids cover the whole table as a real tokenizer's do. RoBERTa's adds `<s> ... </s>` around a
 * text (RobertaProcessing); GPT-2's adds nothing.
 */
function byteLevelTokenizer(vocab: number, specials: string[], tail: string[], post: object): object {
  const entries = [...specials, ...byteAlphabet()];
  for (let i = entries.length; i < vocab - tail.length; i++) entries.push(`<filler_${i}>`);
  entries.push(...tail);
  const added = [...specials, ...tail].map((content) => ({
    id: entries.indexOf(content),
    content,
    single_word: false,
    lstrip: content === '<mask>',
    rstrip: false,
    normalized: false,
    special: true,
  }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: post,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(entries.map((t, i) => [t, i])),
      merges: [],
    },
  };
}

const robertaTokenizer = (vocab: number) =>
  byteLevelTokenizer(vocab, ['<s>', '<pad>', '</s>', '<unk>'], ['<mask>'], {
    type: 'RobertaProcessing',
    sep: ['</s>', 2],
    cls: ['<s>', 0],
    trim_offsets: true,
    add_prefix_space: false,
  });
const gpt2Tokenizer = (vocab: number) =>
  byteLevelTokenizer(vocab, [], ['<|endoftext|>'], {
    type: 'ByteLevel',
    add_prefix_space: true,
    trim_offsets: false,
    use_regex: true,
  });

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
    const norm = /(LayerNorm|layernorm\w*|ln_\w+|layer_norm)\.weight$/.test(k);
    for (let i = 0; i < x.length; i++) x[i] = norm ? 1 : (r() - 0.5) * 0.1;
    writeSync(fd, new Uint8Array(x.buffer));
  }
  closeSync(fd);
  renameSync(tmp, join(dir, 'model.safetensors'));
  return total;
}

export function ensureBaseCheckpoints(root: string): {
  vit: string;
  bert: string;
  vitParams: number;
  bertParams: number;
} {
  const vit = join(root, 'vit-base-patch16-224');
  const bert = join(root, 'bert-base');
  return {
    vit,
    bert,
    vitParams: writeRandom(vit, VIT_B16, vitShapes(VIT_B16), 16),
    bertParams: writeRandom(bert, BERT_BASE, bertShapes(BERT_BASE), 17),
  };
}

/** The towers of the seeds' settings at their real sizes, by name. */
export const SEED_TOWERS = {
  'vit-base-patch16-224': () => ({ config: VIT_B16, shapes: vitShapes(VIT_B16), seed: 16 }),
  'vit-large-patch16-224': () => ({ config: VIT_L16, shapes: vitShapes(VIT_L16), seed: 22 }),
  'bert-base': () => ({ config: BERT_BASE, shapes: bertShapes(BERT_BASE), seed: 17 }),
  'roberta-base': () => ({ config: ROBERTA_BASE, shapes: bertShapes(ROBERTA_BASE), seed: 18 }),
  'roberta-large': () => ({ config: ROBERTA_LARGE, shapes: bertShapes(ROBERTA_LARGE), seed: 19 }),
  gpt2: () => ({ config: GPT2_SMALL, shapes: gpt2Shapes(GPT2_SMALL), seed: 20 }),
  't5-base': () => ({ config: T5_BASE, shapes: t5Shapes(T5_BASE), seed: 21 }),
};
export type SeedTower = keyof typeof SEED_TOWERS;

/**
 * `name`'s directory under `root`, written unless present, with what a user's download would
 * hold besides the weights: ViT's preprocessor_config.json (ViTImageProcessor's defaults at 224),
 * RoBERTa's and GPT-2's tokenizer.json. Returns the directory and the number of weights.
 */
export function ensureTower(root: string, name: SeedTower): { dir: string; params: number } {
  const dir = join(root, name);
  const { config, shapes, seed } = SEED_TOWERS[name]();
  const params = writeRandom(dir, config, shapes, seed);
  if (name.startsWith('vit-') && !existsSync(join(dir, 'preprocessor_config.json'))) {
    const proc = {
      image_processor_type: 'ViTImageProcessor',
      do_resize: true,
      size: { height: 224, width: 224 },
      resample: 2,
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.5, 0.5, 0.5],
    };
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(proc, null, 1));
  }
  if (name.startsWith('roberta') && !existsSync(join(dir, 'tokenizer.json'))) {
    writeFileSync(
      join(dir, 'tokenizer.json'),
      JSON.stringify(robertaTokenizer((config as typeof ROBERTA_BASE).vocab_size)),
    );
    writeFileSync(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify(
        {
          bos_token: '<s>',
          eos_token: '</s>',
          pad_token: '<pad>',
          unk_token: '<unk>',
          mask_token: '<mask>',
          model_max_length: 512,
        },
        null,
        1,
      ),
    );
  }
  if (name === 'gpt2' && !existsSync(join(dir, 'tokenizer.json'))) {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(gpt2Tokenizer(GPT2_SMALL.vocab_size)));
    writeFileSync(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify(
        { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', model_max_length: 1024 },
        null,
        1,
      ),
    );
  }
  return { dir, params };
}
