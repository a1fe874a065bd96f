/**
 * The compared methods, in two settings:
 *  - `vl`: the jointly pretrained vision-language model (bench/vqa/checkpoints/vl.safetensors),
 *    backbone frozen, PEFT modules in the text (fusion) encoder, the pretrained VQA head trained
 *    on. This is MixPHM's setting: low-resource finetuning of a pretrained VLM.
 *  - `routing`: vision and text pretrained apart (vision.safetensors, text.safetensors), both
 *    frozen, a fresh head; only the PEFT modules can align the pooled visual token with the text.
 *    This is the routing functions' setting.
 * Sizes were fixed before any benchmark result was seen and are the same across methods where
 * they mean the same thing (bottleneck 16 = width/4, LoRA rank 8, 4 experts, PHM n=4 with rank
 * 2). Learning rates: the protocol's 5e-3 for every PEFT method, 5e-4 for full finetuning (all
 * ~200K weights move; 5e-3 is a PEFT learning rate).
 */
import { peft, type ModelBuilder } from '../../src/dsl/index.ts';
import type { Routing } from '../../src/dsl/spec.ts';
import { backbone } from './model.ts';

export type Setting = 'vl' | 'routing';

export interface Method {
  name: string;
  setting: Setting;
  lr: number;
  model(): ModelBuilder;
  about: string;
}

const PEFT_LR = 5e-3;
const BOTTLENECK = 16;
const frozen = () => backbone().freeze('**');
const lora = (routing: Routing) => frozen().insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 8, alpha: 8, routing }));
const adapter = (routing: Routing) => frozen().insert(peft.adapter({ at: 'text.layers.*.ffn', bottleneck: BOTTLENECK, routing }));
const mixphm = () => frozen().insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 4, bottleneck: BOTTLENECK, kron: 4, rank: 2 }));

const ROUTINGS: Routing[] = ['none', 'add', 'mul', 'mulExpand', 'inner'];

export const METHODS: Method[] = [
  { name: 'full', setting: 'vl', lr: 5e-4, model: () => backbone().insert(peft.full()), about: 'every weight trainable' },
  { name: 'bitfit', setting: 'vl', lr: PEFT_LR, model: () => frozen().insert(peft.bitfit()), about: 'biases and norm shifts only' },
  { name: 'lora', setting: 'vl', lr: PEFT_LR, model: () => lora('none'), about: 'LoRA r=8 on text q,v' },
  { name: 'houlsby', setting: 'vl', lr: PEFT_LR, model: () => frozen().insert(peft.houlsby('text.layers.*', { bottleneck: BOTTLENECK })), about: 'adapters after text attn and FFN' },
  { name: 'pfeiffer', setting: 'vl', lr: PEFT_LR, model: () => adapter('none'), about: 'adapter after text FFN' },
  {
    name: 'compacter',
    setting: 'vl',
    lr: PEFT_LR,
    model: () => frozen().insert(peft.compacter({ at: 'text.layers.*.ffn', bottleneck: BOTTLENECK, kron: 4, rank: 2 })),
    about: 'PHM adapter, shared S',
  },
  {
    name: 'adamix',
    setting: 'vl',
    lr: PEFT_LR,
    model: () => frozen().insert(peft.adamix({ at: 'text.layers.*.ffn', experts: 4, bottleneck: BOTTLENECK })),
    about: '4 adapter experts, random routing, averaged at inference',
  },
  { name: 'mixphm', setting: 'vl', lr: PEFT_LR, model: mixphm, about: '4 PHM experts, shared down, merged at inference' },
  { name: 'mixphm+reg', setting: 'vl', lr: PEFT_LR, model: () => mixphm().regularize(), about: 'MixPHM with redundancy regularization' },
  ...ROUTINGS.map((r): Method => ({ name: `lora/${r}`, setting: 'routing', lr: PEFT_LR, model: () => lora(r), about: `LoRA r=8 on text q,v, routing ${r}` })),
  ...ROUTINGS.map((r): Method => ({ name: `adapter/${r}`, setting: 'routing', lr: PEFT_LR, model: () => adapter(r), about: `adapter after text FFN, routing ${r}` })),
];

export function method(name: string): Method {
  const m = METHODS.find((x) => x.name === name);
  if (!m) throw new Error(`bench vqa: unknown method '${name}'; choose from ${METHODS.map((x) => x.name).join(', ')}`);
  return m;
}
