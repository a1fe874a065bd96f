/**
 * The MNIST-VQA models. `backbone()` is the vision-language model: a ViT over the 56x56 scene
 * (7x7 patches), a text encoder over the question, the scene prepended to the text (`Joint`:
 * the pooled visual feature as one token, as issue 8's models; or one token per cell,
 * embedded, as the HF-family `vl` backbone of issue 19), and the VQA classifier over the shared
 * answer vocabulary. PEFT methods are added per experiment.
 *
 * Towers pretrained apart, each with its own throwaway head: `visionCellsModel()` reads each
 * cell's digit (or empty) from the ViT's patch tokens, `visionPretrainModel()` reads the scene
 * out through the pooled CLS, and `textPretrainModel()` reads a question's intent (family,
 * digit and position mentioned) from the text alone. Their `vision.*` and `text.*` params have
 * the names and shapes of `backbone()`'s, so the checkpoints drop in.
 */
import { vl } from '../../src/dsl/index.ts';
import { ANSWERS, CANVAS, QLEN, WORDS } from './mnist-vqa.ts';
import { TEXT_LEN, TOKENIZER_VOCAB } from './text.ts';
import { ANSWER_LEN, T5_VOCAB } from './t5.ts';
import { CAPTION_LEN, CAPTION_WORDS, captionTokenizerDir } from './captions.ts';
import { metaValue } from './weights.ts';

export const WIDTH = 64;

/**
 * 'native': peftgraph's own towers (pre-LN text encoder over word ids, mean pooling), as the
 * issue-8 results were made. 'hf': the same sizes as HF families, exportable in HF layout: a ViT
 * (erf GELU, LN eps 1e-12) and a BERT encoder (post-LN, embedding LN, token types, [CLS]
 * pooler) reading questions through text.ts's WordPiece tokenizer. 't5': the VL-T5-style
 * encoder-decoder (vlT5), reading and writing through t5.ts's tokenizer.
 */
export const FLAVORS = ['native', 'hf', 't5'] as const;
export type Flavor = (typeof FLAVORS)[number];

/** pool 'mean' (the routing setting's hf ViT): its CLS was never taught to gather the cells, its patch tokens were. */
const vit = (f: Flavor = 'native', pool: 'tanh' | 'mean' = 'tanh') =>
  vl.vit({
    image: [CANVAS, CANVAS],
    patch: 7,
    width: WIDTH,
    depth: 2,
    heads: 4,
    pool,
    ...(f === 'hf' ? { act: 'gelu', eps: 1e-12 } : {}),
  });
const textEncoder = (f: Flavor = 'native') =>
  f === 'hf'
    ? vl.encoder({
        vocab: TOKENIZER_VOCAB.length,
        maxLen: TEXT_LEN,
        width: WIDTH,
        depth: 2,
        heads: 4,
        act: 'gelu',
        eps: 1e-12,
        norm: 'post',
        embedNorm: true,
        typeVocab: 2,
        pool: 'cls',
        padId: 0,
      })
    : vl.encoder({ vocab: WORDS.length, maxLen: QLEN, width: WIDTH, depth: 2, heads: 4 });

/**
 * How the scene enters the text stream: 'pooled' (one token, the ViT's pooled CLS; the issue-8
 * results), 'tokens' (all 65 final ViT states, VL-T5 style) or 'regions' (one token per cell,
 * its patch states averaged, as VL-T5 reads region features): a ViT whose patch tokens know each
 * cell (hf-cells.safetensors) is read where the pooled CLS is not.
 */
export const PREFIXES = ['pooled', 'tokens', 'regions'] as const;
export type Prefix = (typeof PREFIXES)[number];

/**
 * How the scene joins the question: the prefix, whether it gets VL-T5's visual embedding (a
 * projection, a norm and a position row per token: spec.visualEmbed), and how the ViT pools the
 * feature routing functions mix in (default its CLS pooler).
 */
export interface Joint {
  prefix: Prefix;
  embed: boolean;
  pool?: 'tanh' | 'mean';
}

export const POOLED: Joint = { prefix: 'pooled', embed: false };

/** A checkpoint's flavor from its metadata (absent: native, as the first ones were written); an unknown one is refused. */
export const flavorOf = (meta: Record<string, string>, source = 'checkpoint'): Flavor =>
  metaValue(meta, 'flavor', FLAVORS, source, 'native');

/**
 * A checkpoint's joint layout from its metadata (pretrain.ts writes it; older ones, without the
 * fields, are pooled and not embedded). A value it does not know is refused, naming `source`.
 */
export const jointOf = (meta: Record<string, string>, source = 'checkpoint'): Joint => ({
  prefix: metaValue(meta, 'prefix', PREFIXES, source, 'pooled'),
  embed: metaValue(meta, 'embed', ['true', 'false'], source, 'false') === 'true',
});

export const backbone = (f: Flavor = 'native', joint: Joint = POOLED) =>
  vl.model({
    vision: vit(f, joint.pool),
    text: textEncoder(f),
    visualPrefix: joint.prefix,
    ...(joint.prefix === 'regions' ? { visualRegions: [2, 2] as [number, number] } : {}),
    visualEmbed: joint.embed,
    head: vl.classifier({ answers: ANSWERS.length, loss: 'bce' }),
  });

/**
 * The VL-T5-style encoder-decoder (MixPHM's own setting): the ViT's cells, embedded, join the
 * question in a T5 encoder (v1.0: ReLU FFN, relative position buckets, tied LM head); the
 * decoder writes the answer as text (t5.ts: one answer piece and </s>).
 */
export const vlT5 = () =>
  vl.model({
    vision: vit('hf'),
    text: vl.encdec({
      vocab: T5_VOCAB.length,
      maxLen: TEXT_LEN,
      targetLen: ANSWER_LEN,
      width: WIDTH,
      ffn: 4 * WIDTH,
      encoderDepth: 2,
      decoderDepth: 2,
      heads: 4,
    }),
    visualPrefix: 'regions',
    visualRegions: [2, 2],
    visualEmbed: true,
    head: vl.lm(),
  });

/**
 * The captioning setting's model (issue 35, part 3), as METHODS.md states the routing paper's:
 * a ViT whose pooled output tanh(dense(CLS)) reads the scene (pretrain.ts vision), one prefix
 * token before the caption tokens and the routed feature, and a GPT-2-style decoder pretrained
 * on caption text alone (pretrain.ts captext). Captions are read and written through
 * captions.ts's word-level tokenizer.
 */
const captionDecoder = () =>
  vl.decoder({ vocab: CAPTION_WORDS.length, maxLen: CAPTION_LEN, width: WIDTH, depth: 2, heads: 4 });
export const captionModel = () =>
  vl
    .model({ vision: vit('hf'), text: captionDecoder(), visualPrefix: 'pooled', head: vl.lm() })
    .inputs({ tokenizer: captionTokenizerDir() });
/** The decoder alone, pretrained as a language model on captions (the same params as captionModel's text.*). */
export const captionTextModel = () => vl.model({ text: captionDecoder(), head: vl.lm() });

/** Cell labels: 4 cells x (digit 0-9 or empty), multi-hot. */
export const SCENE_LABELS = 4 * 11;

export const visionPretrainModel = (f: Flavor = 'native') =>
  f === 'hf'
    ? vl.model({ vision: vit(f), head: vl.classifier({ answers: SCENE_LABELS, loss: 'bce' }) })
    : vl.model({
        vision: vit(),
        text: vl.encoder({ vocab: 1, maxLen: 1, width: WIDTH, depth: 1, heads: 4 }),
        visualPrefix: 'pooled',
        head: vl.classifier({ answers: SCENE_LABELS, loss: 'bce' }),
      });

/** The ViT alone, read out cell by cell from its patch tokens (each cell's 4x4 patches averaged): digit 0-9 or empty (10). */
export const visionCellsModel = (f: Flavor = 'native') =>
  vl.model({ vision: vit(f), head: vl.regions({ grid: [2, 2], classes: 11 }) });

/** Question labels: family (8), digit mentioned (10), position mentioned (4), multi-hot. */
export const QUESTION_LABELS = 8 + 10 + 4;

export const textPretrainModel = (f: Flavor = 'native') =>
  vl.model({ text: textEncoder(f), head: vl.classifier({ answers: QUESTION_LABELS, loss: 'bce' }) });
