/**
 * Questions to model inputs with a checkpoint's own tokenizer: HF `tokenizer.json` (WordPiece,
 * byte-level BPE, Unigram, ...) read by `@huggingface/tokenizers` (HF's pure-JS tokenizers; the
 * algorithms, normalizers and special-token templates are theirs). What is ours: a fixed length
 * (truncation keeps the special tokens, as HF truncates before post-processing, and is counted),
 * padding with the model's pad id, and the attention mask.
 */
import { host } from '../runtime/host.ts';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { DataError } from './errors.ts';

/** The part of the library's Tokenizer used here (its .d.ts files do not resolve under NodeNext). */
interface Tokenizer {
  encode(text: string, o?: { add_special_tokens?: boolean }): { ids: number[] };
  decode(ids: number[], o?: { skip_special_tokens?: boolean }): string;
  token_to_id(token: string): number | undefined;
  get_vocab(withAdded?: boolean): Map<string, number>;
}

export interface Encoded {
  /** Token ids, padded to the length asked for. */
  ids: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  mask: Float32Array;
  /** Tokens the text had with its special tokens, before truncation. */
  length: number;
}

function jsonObject(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataError(`${path}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** The files of an HF tokenizer directory the tokenizer is made from, parsed. */
export interface TokenizerFiles {
  'tokenizer.json': unknown;
  'tokenizer_config.json'?: unknown;
  /** The model's config.json: its pad and end ids when the tokenizer's files name none. */
  'config.json'?: unknown;
}

export class TextTokenizer {
  /** Texts encoded and texts truncated so far (reported, never silent). */
  readonly counts = { texts: 0, truncated: 0, longest: 0 };
  private readonly prefix: number;
  private readonly suffix: number;

  private constructor(
    readonly source: string,
    private readonly tok: Tokenizer,
    readonly padId: number,
    /** The end-of-sequence id (tokenizer_config.json eos_token, or config.json eos_token_id), if any: where generation stops. */
    readonly eosId?: number,
    /** sha256 of what decides the ids: tokenizer.json, tokenizer_config.json, pad and end ids (a run's identity records it). */
    readonly fingerprint = '',
  ) {
    // Where the template puts the text: specials before and after it (BERT [CLS] x [SEP], T5 x </s>).
    const probe = 'a';
    const plain = tok.encode(probe, { add_special_tokens: false }).ids;
    const full = tok.encode(probe, { add_special_tokens: true }).ids;
    const at = full.findIndex((_, i) => plain.every((id, j) => full[i + j] === id));
    this.prefix = Math.max(at, 0);
    this.suffix = full.length - this.prefix - plain.length;
  }

  /**
   * The tokenizer of an HF-layout directory: tokenizer.json, with tokenizer_config.json when
   * present. The pad id comes from the tokenizer's padding section, its pad token, the model
   * config's pad_token_id, or else its end-of-sequence token (GPT-2 has no pad token).
   */
  static fromDir(dir: string): TextTokenizer {
    if (!host.exists(dir))
      throw new DataError(
        `${dir}: no such directory (the tokenizer's: a text tower's pretrained directory, or .inputs({ tokenizer }))`,
      );
    const read = (name: string) =>
      host.exists(host.join(dir, name)) ? host.readJson(host.join(dir, name), 'tokenizer file') : undefined;
    const json = read('tokenizer.json');
    if (json === undefined)
      throw new DataError(
        `${dir}: no tokenizer.json (an HF tokenizer directory has tokenizer.json and usually tokenizer_config.json)`,
      );
    return TextTokenizer.fromFiles(
      {
        'tokenizer.json': json,
        'tokenizer_config.json': read('tokenizer_config.json'),
        'config.json': read('config.json'),
      },
      dir,
    );
  }

  /** The tokenizer of an HF tokenizer directory's files, parsed (`dir` names them in errors): a directory's or an artifact's bundle. */
  static fromFiles(files: TokenizerFiles, dir: string): TextTokenizer {
    const path = host.join(dir, 'tokenizer.json');
    const json = jsonObject(files['tokenizer.json'], path);
    const cfg =
      files['tokenizer_config.json'] === undefined
        ? {}
        : jsonObject(files['tokenizer_config.json'], host.join(dir, 'tokenizer_config.json'));
    let tok: Tokenizer;
    try {
      tok = new HfTokenizer(json, cfg) as Tokenizer;
    } catch (e) {
      throw new DataError(`${path}: not a tokenizer this library reads (${(e as Error).message})`);
    }
    checkUnknowns(path, json);
    const model =
      files['config.json'] === undefined ? {} : jsonObject(files['config.json'], host.join(dir, 'config.json'));
    const tokenId = (t: unknown) => {
      const s =
        typeof t === 'string'
          ? t
          : typeof t === 'object' && t && 'content' in t
            ? String((t as { content: unknown }).content)
            : undefined;
      return s === undefined ? undefined : tok.token_to_id(s);
    };
    const padding = json.padding as { pad_id?: number } | null;
    const pad =
      padding?.pad_id ??
      tokenId(cfg.pad_token) ??
      (model.pad_token_id as number | undefined) ??
      tokenId(cfg.eos_token) ??
      (model.eos_token_id as number | undefined);
    if (pad === undefined || pad === null)
      throw new DataError(
        `${dir}: no pad token (tokenizer.json padding, tokenizer_config.json pad_token or eos_token, config.json pad_token_id): say which id pads`,
      );
    const eos = tokenId(cfg.eos_token) ?? (model.eos_token_id as number | undefined);
    const eosId = typeof eos === 'number' ? eos : undefined;
    const fingerprint = host
      .sha256()
      .update(JSON.stringify([json, cfg, pad, eosId ?? null]))
      .digest();
    // The constructor encodes a probe: a malformed section (a template, a normalizer) fails there.
    try {
      return new TextTokenizer(path, tok, pad, eosId, fingerprint);
    } catch (e) {
      if (e instanceof DataError) throw e;
      throw new DataError(`${path}: not a tokenizer this library reads (${(e as Error).message})`);
    }
  }

  private largest: number | undefined;

  /** Largest id the tokenizer can emit, to check against a model's vocabulary. */
  get maxId(): number {
    if (this.largest === undefined) {
      let max = 0;
      for (const id of this.tok.get_vocab(true).values()) max = Math.max(max, id);
      this.largest = max;
    }
    return this.largest;
  }

  /** Ids (with special tokens) and mask for `text`, truncated or padded to `maxLen`. */
  encode(text: string, maxLen: number): Encoded {
    const content = this.ids(text, false);
    const specials = this.prefix + this.suffix;
    if (maxLen <= specials)
      throw new DataError(
        `maxLen ${maxLen} leaves no room for text between the tokenizer's ${specials} special tokens`,
      );
    const length = content.length + specials;
    let ids = this.ids(text, true);
    this.counts.texts++;
    this.counts.longest = Math.max(this.counts.longest, length);
    if (ids.length > maxLen) {
      // Keep the template: specials before, the first tokens of the text, specials after.
      ids = [...ids.slice(0, this.prefix + maxLen - specials), ...ids.slice(ids.length - this.suffix)];
      this.counts.truncated++;
    }
    const out = new Int32Array(maxLen).fill(this.padId);
    const mask = new Float32Array(maxLen);
    out.set(ids);
    mask.fill(1, 0, ids.length);
    return { ids: out, mask, length };
  }

  /** The library's ids for `text`; its own failures (a malformed tokenizer.json section) are errors naming the file. */
  private ids(text: string, specials: boolean): number[] {
    let ids: number[];
    try {
      ids = this.tok.encode(text, { add_special_tokens: specials }).ids;
    } catch (e) {
      throw new DataError(
        `${this.source}: cannot encode ${JSON.stringify(text.slice(0, 80))} (${(e as Error).message})`,
      );
    }
    // A piece with no id (no unk token to fall back on) would become 0, the pad id, with mask 1; an id
    // outside the vocabulary (an edited unk_id or added token) would read another row.
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id > this.maxId);
    if (bad !== undefined || ids.some((id) => id === undefined))
      throw new DataError(
        `${this.source}: ${JSON.stringify(text.slice(0, 80))} gives ${bad === undefined ? 'a piece with no id (the tokenizer has no unknown token to map it to)' : `id ${bad}, outside its vocabulary [0, ${this.maxId}]`}`,
      );
    return ids;
  }

  decode(ids: ArrayLike<number>, skipSpecial = true): string {
    // No ids is the empty text (the library refuses an empty list: a caption that ended at once).
    if (ids.length === 0) return '';
    return this.tok.decode(Array.from(ids), { skip_special_tokens: skipSpecial });
  }
}

/**
 * A tokenizer whose model cannot map an unknown piece to an id is refused when loaded: its
 * unknown words would otherwise read as the pad id. Byte-level BPE (every byte is a token) and
 * byte fallback cover every input; WordPiece, WordLevel, Unigram and plain BPE need their unk token
 * in the vocabulary. An empty vocabulary is refused too.
 */
function checkUnknowns(path: string, json: Record<string, unknown>): void {
  const model = (json.model ?? {}) as {
    type?: string;
    unk_token?: unknown;
    unk_id?: unknown;
    vocab?: unknown;
    byte_fallback?: boolean;
  };
  const vocab = model.vocab;
  const size = Array.isArray(vocab) ? vocab.length : vocab && typeof vocab === 'object' ? Object.keys(vocab).length : 0;
  if (size === 0) throw new DataError(`${path}: the tokenizer's model has an empty vocabulary`);
  const pre = JSON.stringify(json.pre_tokenizer ?? null);
  if (model.type === 'BPE' && (model.byte_fallback || pre.includes('"ByteLevel"'))) return;
  if (model.type === 'Unigram') {
    if (!Number.isInteger(model.unk_id))
      throw new DataError(`${path}: the Unigram model has no unk_id, so unknown pieces would have no id; set "unk_id"`);
    return;
  }
  const unk = model.unk_token;
  const has = typeof unk === 'string' && (Array.isArray(vocab) ? false : Object.hasOwn(vocab as object, unk));
  if (!has)
    throw new DataError(
      `${path}: the ${model.type ?? 'tokenizer'} model's unk_token ${JSON.stringify(unk ?? null)} is not in its vocabulary, so unknown words would have no id (they would read as the pad id); set "unk_token" to a token of the vocabulary`,
    );
}
