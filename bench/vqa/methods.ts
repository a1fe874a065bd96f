/**
 * The compared methods, in two settings (SETTINGS says which backbone and checkpoints each uses):
 *  - `vl`: the jointly pretrained vision-language model (HF families: a ViT whose patch tokens
 *    know every cell, a BERT encoder reading one embedded token per cell, the VQA head;
 *    checkpoints/hf-joint.safetensors), backbone frozen, PEFT modules in the text (fusion)
 *    encoder, the pretrained VQA head trained on. This is MixPHM's setting: low-resource
 *    finetuning of a pretrained VLM.
 *  - `routing`: vision and text pretrained apart (hf-cells.safetensors: a ViT that reads each
 *    cell from its patch tokens; hf-text.safetensors: a BERT encoder that knows what a question
 *    asks), both frozen, a fresh head; only the PEFT modules can align the cell tokens with the
 *    text. This is the routing functions' setting (ROUTING_JOINT).
 *  - `encdec`: the VL-T5-style encoder-decoder (hf-vlt5.safetensors), answers generated as text
 *    and scored by what the decoder writes: MixPHM's own setting, with full finetuning and LoRA.
 * Sizes were fixed before any benchmark result was seen and are the same across methods where
 * they mean the same thing (bottleneck 16 = width/4, LoRA rank 8, 4 experts, PHM n=4 with rank
 * 2). Learning rates: the protocol's 5e-3 for every PEFT method, 5e-4 for full finetuning (all
 * ~200K weights move; 5e-3 is a PEFT learning rate).
 */
import { peft, type ModelBuilder } from '../../src/dsl/index.ts';
import type { Routing } from '../../src/dsl/spec.ts';
import { POOLED, backbone, captionModel, vlT5, type Flavor, type Joint } from './model.ts';
import type { Data } from './protocol.ts';
import type { BackboneTask } from './weights.ts';

export type Setting = 'vl' | 'routing' | 'encdec' | 'near' | 'near-encdec' | 'near-routing' | 'caption';

/** The joint layout hf-joint.safetensors was pretrained with (its metadata says the same; run-one.ts checks). */
export const VL_JOINT: Joint = { prefix: 'regions', embed: true };

/**
 * The routing setting's towers, pretrained apart and never joined: the cells enter the text as
 * they leave the ViT (one raw token per cell, no visual embedding: nothing pretrained one), and
 * the routed visual feature is the mean of the ViT's patch states (its CLS was never trained).
 */
export const ROUTING_JOINT: Joint = { prefix: 'regions', embed: false, pool: 'mean' };

export interface SettingDef {
  flavor: Flavor;
  /** Checkpoints (bench/vqa/checkpoints/<name>.safetensors) whose weights start every run. */
  files: string[];
  /** Each file's pretraining task, in `files`' order: its metadata must say the same (run-one.ts). */
  tasks: BackboneTask[];
  /** Params the checkpoints must hold (the rest, e.g. a fresh head, start from the seed). */
  required: RegExp;
  backbone(): ModelBuilder;
  /** The joint layout a jointly pretrained checkpoint must have been trained with (its metadata). */
  joint?: Joint;
  /** The command that makes the checkpoints. */
  make: string;
  /** Which downstream data: issue 19's far transfer (protocol.ts, default), issue 35's near transfer (near.ts) or its captions (caption-data.ts). */
  data?: Exclude<Data, 'far'>;
}

export const SETTINGS: Record<Setting, SettingDef> = {
  vl: {
    flavor: 'hf',
    files: ['hf-joint'],
    tasks: ['vl'],
    required: /^(vision|prefix|text|head)\./,
    backbone: () => backbone('hf', VL_JOINT),
    joint: VL_JOINT,
    make: 'see bench/vqa/README.md (pretrain.ts cells, text and vl --flavor hf)',
  },
  encdec: {
    flavor: 't5',
    files: ['hf-vlt5'],
    tasks: ['vlt5'],
    required: /^(vision|prefix|shared|encoder|decoder)\./,
    backbone: vlT5,
    make: 'npx tsx bench/vqa/pretrain.ts vlt5 --freeze-vision --n 32000 --epochs 6 --shift 3',
  },
  // Issue 35's near transfer: the joint model pretrained on every family (near.ts), adapted to
  // held-out digits, new templates and a shifted answer distribution.
  near: {
    flavor: 'hf',
    files: ['hf-near-vl'],
    tasks: ['vl'],
    required: /^(vision|prefix|text|head)\./,
    backbone: () => backbone('hf', VL_JOINT),
    joint: VL_JOINT,
    make: 'bash bench/vqa/near-pretrain.sh',
    data: 'near',
  },
  // Issue 35's near transfer for MixPHM's own setting: the VL-T5-style encoder-decoder pretrained
  // on every family (hf-near-vlt5, then 9,000 more steps: hf-near-vlt5b, whose ceiling met the gate).
  'near-encdec': {
    flavor: 't5',
    files: ['hf-near-vlt5b'],
    tasks: ['vlt5'],
    required: /^(vision|prefix|shared|encoder|decoder)\./,
    backbone: vlT5,
    make: 'bash bench/vqa/near-pretrain.sh',
    data: 'near',
  },
  // Issue 35's routing setting as METHODS.md states it: towers pretrained apart on near-transfer
  // data (the ViT's pooled tanh(dense(CLS)) reads the scene; the text encoder what a question
  // asks), one pooled visual prefix token, the routed feature that same token, a new head; the
  // downstream questions ask what is where (near.ts ALIGN_FAMILIES).
  'near-routing': {
    flavor: 'hf',
    files: ['hf-near-vision2', 'hf-near-text'],
    tasks: ['vision', 'text'],
    required: /^(vision|text)\./,
    backbone: () => backbone('hf', POOLED),
    make: 'bash bench/vqa/near-routing.sh',
    data: 'near-align',
  },
  // Issue 35, part 3: the routing paper's second claim, captioning. METHODS.md's setting: the
  // near-routing ViT's pooled output as one prefix token and the routed feature, a GPT-2-style
  // decoder pretrained on caption text alone, both frozen; k counts images (caption-data.ts).
  caption: {
    flavor: 'hf',
    files: ['hf-near-vision2', 'hf-near-captext'],
    tasks: ['vision', 'captext'],
    required: /^(vision|text)\./,
    backbone: captionModel,
    make: 'bash bench/vqa/near-routing.sh',
    data: 'caption',
  },
  routing: {
    flavor: 'hf',
    files: ['hf-cells', 'hf-text'],
    tasks: ['cells', 'text'],
    required: /^(vision|text)\./,
    backbone: () => backbone('hf', ROUTING_JOINT),
    make: 'npx tsx bench/vqa/pretrain.ts cells --flavor hf --n 32000 --epochs 3 --shift 3; npx tsx bench/vqa/pretrain.ts text --flavor hf',
  },
};

export interface Method {
  name: string;
  setting: Setting;
  lr: number;
  /**
   * false: the learning rate is a placeholder until tune.ts has chosen it (issue 35: every method
   * tuned on the same grid before the grid runs); the benchmark refuses to run such a method.
   */
  tuned?: boolean;
  model(): ModelBuilder;
  about: string;
}

const PEFT_LR = 5e-3;
const BOTTLENECK = 16;
const frozen = (s: Setting = 'vl') => SETTINGS[s].backbone().freeze('**');
type JointSetting = 'vl' | 'near';
const lora = (s: Setting, routing: Routing) =>
  frozen(s).insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 8, alpha: 8, routing }));
const adapter = (s: Setting, routing: Routing, bottleneck = BOTTLENECK) =>
  frozen(s).insert(peft.adapter({ at: 'text.layers.*.ffn', bottleneck, routing }));
/** LoRA r=8 on q, v of both stacks of the encoder-decoder. */
const encdecLora = (s: 'encdec' | 'near-encdec') =>
  frozen(s).insert(
    peft.lora({ at: ['encoder.layers.*.attn.{q,v}', 'decoder.layers.*.attn.{q,v}'], rank: 8, alpha: 8 }),
  );
const mixphm = (s: JointSetting = 'vl') =>
  frozen(s).insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 4, bottleneck: BOTTLENECK, kron: 4, rank: 2 }));
/** MixPHM where it was evaluated: after both stacks' FFNs of the encoder-decoder (dropout: METHODS.md's 0.5 unless given). */
const encdecMixphm = (dropout?: number, s: 'encdec' | 'near-encdec' = 'encdec') =>
  frozen(s).insert(
    peft.mixphm({
      at: ['encoder.layers.*.ffn', 'decoder.layers.*.ffn'],
      experts: 4,
      bottleneck: BOTTLENECK,
      kron: 4,
      rank: 2,
      dropout,
    }),
  );

const ROUTINGS: Routing[] = ['none', 'add', 'mul', 'mulExpand', 'inner'];

/**
 * Near transfer's learning rates, chosen by tune.ts before any grid run: every method on one
 * grid (2e-4 to 4.5e-2: 2e-4, 1e-3 and 5e-3 first, extended twice where a method chose the top),
 * k=1000, tuning seed 1, the protocol's step budget, best dev score (results/tuning-near.md;
 * test/bench/near.test.ts checks these against results/tuning-near.json). mixphm+reg's 4.5e-2
 * beat 5e-3 by 0.03 points of dev: its curve is flat from 5e-3 up.
 * A method missing here keeps a placeholder rate and is refused by the grid.
 */
export const NEAR_TUNED: Record<string, number> = {
  'near/full': 2e-4,
  'near/bitfit': 5e-3,
  'near/lora': 5e-3,
  'near/houlsby': 1e-3,
  'near/pfeiffer': 5e-3,
  'near/compacter': 5e-3,
  'near/adamix': 5e-3,
  'near/mixphm': 1.5e-2,
  'near/mixphm+reg': 4.5e-2,
};

/**
 * The encoder-decoder's near-transfer rates, chosen the same way (tune.ts --setting near-encdec,
 * the same five-rate grid, k=1000, tuning seed 1, dev only; results/tuning-near-encdec.md, checked
 * against its JSON by test/bench/near.test.ts) before its grid ran. Full finetuning chose the
 * grid's lowest rate, as in `near`, and the grid was not extended down: the gate's whole-pool sweep
 * had dev 0.890 at 1e-4 against 0.880 at 2e-4, so full finetuning may sit a little below its best.
 */
export const NEAR_ENCDEC_TUNED: Record<string, number> = {
  'near-encdec/full': 2e-4,
  'near-encdec/lora': 5e-3,
  'near-encdec/mixphm': 1.5e-2,
  'near-encdec/mixphm+reg': 1.5e-2,
};

/** The joint model's methods, in setting `s`: named plainly in 'vl', as 'near/<name>' in 'near'. */
const jointMethods = (s: JointSetting): Method[] => {
  const name = (n: string) => (s === 'vl' ? n : `${s}/${n}`);
  const list: Method[] = [
    {
      name: name('full'),
      setting: s,
      lr: 5e-4,
      model: () => SETTINGS[s].backbone().insert(peft.full()),
      about: 'every weight trainable',
    },
    {
      name: name('bitfit'),
      setting: s,
      lr: PEFT_LR,
      model: () => frozen(s).insert(peft.bitfit()),
      about: 'biases and norm shifts only',
    },
    { name: name('lora'), setting: s, lr: PEFT_LR, model: () => lora(s, 'none'), about: 'LoRA r=8 on text q,v' },
    {
      name: name('houlsby'),
      setting: s,
      lr: PEFT_LR,
      model: () => frozen(s).insert(peft.houlsby('text.layers.*', { bottleneck: BOTTLENECK })),
      about: 'adapters after text attn and FFN',
    },
    {
      name: name('pfeiffer'),
      setting: s,
      lr: PEFT_LR,
      model: () => adapter(s, 'none'),
      about: 'adapter after text FFN',
    },
    {
      name: name('compacter'),
      setting: s,
      lr: PEFT_LR,
      model: () =>
        frozen(s).insert(peft.compacter({ at: 'text.layers.*.ffn', bottleneck: BOTTLENECK, kron: 4, rank: 2 })),
      about: 'PHM adapter, shared S',
    },
    {
      name: name('adamix'),
      setting: s,
      lr: PEFT_LR,
      model: () => frozen(s).insert(peft.adamix({ at: 'text.layers.*.ffn', experts: 4, bottleneck: BOTTLENECK })),
      about: '4 adapter experts, random routing, averaged at inference',
    },
    {
      name: name('mixphm'),
      setting: s,
      lr: PEFT_LR,
      model: () => mixphm(s),
      about: '4 PHM experts, shared down, merged at inference',
    },
    {
      name: name('mixphm+reg'),
      setting: s,
      lr: PEFT_LR,
      model: () => mixphm(s).regularize(),
      about: 'MixPHM with redundancy regularization',
    },
  ];
  if (s === 'vl') return list;
  return list.map((m) =>
    m.name in NEAR_TUNED ? { ...m, lr: NEAR_TUNED[m.name], tuned: true } : { ...m, tuned: false },
  );
};

/**
 * The routing settings' rates, chosen as NEAR_TUNED's were (tune.ts --setting near-routing and
 * --setting caption: the same five-rate grid, k=1000 (images, for captions), tuning seed 1, dev
 * only; results/tuning-<setting>.json, checked by test/bench/near.test.ts) before their grids
 * ran. A method missing here keeps METHODS.md's 3e-4 as a placeholder and is refused by the grid.
 */
export const ROUTED_TUNED: Record<'near-routing' | 'caption', Record<string, number>> = {
  // Every choice inside the grid (results/tuning-near-routing.md, 2026-12-08).
  'near-routing': {
    'near-routing/full': 1e-3,
    'near-routing/full-text': 1e-3,
    'near-routing/lora/none': 5e-3,
    'near-routing/lora/add': 5e-3,
    'near-routing/lora/mul': 5e-3,
    'near-routing/lora/mulExpand': 5e-3,
    'near-routing/lora/inner': 1e-3,
    'near-routing/adapter/none': 1e-3,
    'near-routing/adapter/add': 5e-3,
    'near-routing/adapter/mul': 5e-3,
    'near-routing/adapter/mulExpand': 5e-3,
    'near-routing/adapter/inner': 5e-3,
  },
  caption: {},
};

/**
 * The routing settings' methods (near-routing's VQA, caption's decoder): LoRA and the adapter,
 * plain and with each routing function,
 * at METHODS.md's reference sizes scaled to width 64 (LoRA r = alpha = 128 at width 1024 is
 * r = alpha = width/8 = 8, scaling 1; the adapter's r = 64 is width/16 = 4), on the text
 * tower's q, v (LoRA) and after its FFNs (adapter), and full finetuning as the ceiling, at
 * ROUTED_TUNED's rates.
 */
function routedMethods(s: 'near-routing' | 'caption'): Method[] {
  const rate = (name: string) =>
    name in ROUTED_TUNED[s] ? { lr: ROUTED_TUNED[s][name], tuned: true } : { lr: 3e-4, tuned: false };
  const make = (kind: 'lora' | 'adapter', r: Routing): Method => ({
    name: `${s}/${kind}/${r}`,
    setting: s,
    ...rate(`${s}/${kind}/${r}`),
    model: () => (kind === 'lora' ? lora(s, r) : adapter(s, r, 4)),
    about: kind === 'lora' ? `LoRA r=alpha=8 on text q,v, routing ${r}` : `adapter (4) after text FFN, routing ${r}`,
  });
  return [
    {
      name: `${s}/full`,
      setting: s,
      ...rate(`${s}/full`),
      model: () => SETTINGS[s].backbone().insert(peft.full()),
      about: 'every weight trainable',
    },
    // The gate's second ceiling, added after full finetuning missed it (routing-check, whole
    // pool): on 2,000 questions, with its ViT trainable, it reads 0.551, where every routed
    // method keeps the ViT frozen. Full finetuning of the language tower and head alone separates the
    // two. Captioning has no such method: its full finetuning met its gate.
    ...(s === 'near-routing'
      ? [
          {
            name: `${s}/full-text`,
            setting: s,
            ...rate(`${s}/full-text`),
            model: () => SETTINGS[s].backbone().freeze('vision.**'),
            about: 'every text-tower and head weight trainable, the ViT frozen',
          },
        ]
      : []),
    ...ROUTINGS.map((r) => make('lora', r)),
    ...ROUTINGS.map((r) => make('adapter', r)),
  ];
}

/**
 * MixPHM's own setting on near transfer: full finetuning, LoRA and MixPHM (with and without the
 * redundancy regularizer) in both stacks, as `encdec/` has them, at NEAR_ENCDEC_TUNED's rates.
 */
function nearEncdecMethods(): Method[] {
  const s = 'near-encdec' as const;
  const list: Omit<Method, 'setting' | 'lr' | 'tuned'>[] = [
    { name: `${s}/full`, model: () => vlT5().insert(peft.full()), about: 'every weight trainable' },
    { name: `${s}/lora`, model: () => encdecLora(s), about: 'LoRA r=8 on q,v of both stacks' },
    { name: `${s}/mixphm`, model: () => encdecMixphm(undefined, s), about: "4 PHM experts after both stacks' FFNs" },
    {
      name: `${s}/mixphm+reg`,
      model: () => encdecMixphm(undefined, s).regularize(),
      about: 'MixPHM with redundancy regularization',
    },
  ];
  return list.map((m) => ({ ...m, setting: s, lr: NEAR_ENCDEC_TUNED[m.name], tuned: true }));
}

export const METHODS: Method[] = [
  ...jointMethods('vl'),
  // MixPHM where it was evaluated: a VL-T5-style encoder-decoder writing answers, modules in both stacks' FFNs.
  {
    name: 'encdec/full',
    setting: 'encdec',
    lr: 5e-4,
    model: () => vlT5().insert(peft.full()),
    about: 'every weight trainable',
  },
  {
    name: 'encdec/lora',
    setting: 'encdec',
    lr: PEFT_LR,
    model: () => encdecLora('encdec'),
    about: 'LoRA r=8 on q,v of both stacks',
  },
  {
    name: 'encdec/mixphm',
    setting: 'encdec',
    lr: PEFT_LR,
    model: () => encdecMixphm(),
    about: "4 PHM experts after both stacks' FFNs",
  },
  // An ablation, added after seed 13's encdec runs were seen (so not part of any claim): encdec
  // MixPHM's training loss stalled at 1.4 where LoRA's reached 0.6; at k=64 its dropout 0.5
  // (METHODS.md, the published code's) was the cause. The same module without it.
  {
    name: 'encdec/mixphm-p0',
    setting: 'encdec',
    lr: PEFT_LR,
    model: () => encdecMixphm(0),
    about: 'encdec/mixphm with dropout 0 (ablation)',
  },
  ...ROUTINGS.map(
    (r): Method => ({
      name: `lora/${r}`,
      setting: 'routing',
      lr: PEFT_LR,
      model: () => lora('routing', r),
      about: `LoRA r=8 on text q,v, routing ${r}`,
    }),
  ),
  ...ROUTINGS.map(
    (r): Method => ({
      name: `adapter/${r}`,
      setting: 'routing',
      lr: PEFT_LR,
      model: () => adapter('routing', r),
      about: `adapter after text FFN, routing ${r}`,
    }),
  ),
  ...jointMethods('near'),
  ...nearEncdecMethods(),
  ...routedMethods('near-routing'),
  ...routedMethods('caption'),
];

export function method(name: string): Method {
  const m = METHODS.find((x) => x.name === name);
  if (!m) throw new Error(`bench vqa: unknown method '${name}'; choose from ${METHODS.map((x) => x.name).join(', ')}`);
  return m;
}
