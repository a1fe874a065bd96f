/**
 * MixPHM's low-resource protocol on VQAv2 (METHODS.md, section 1, and its baselines, section 3)
 * over two HF-layout towers the user downloaded: a ViT, and a text model that is either an
 * encoder (BERT or RoBERTa: a classifier head over the VQAv2 answer classes, binary
 * cross-entropy on soft scores) or T5 (its decoder writes the answer: trained on the most given
 * answer, scored by the decoded text against the annotators' answers, data/vqa-generated.ts).
 * PEFT modules go in the text model, the towers stay frozen, and sizes are METHODS.md's
 * reference ones (MixPHM r = d / reduction, 4 experts, PHM n = 4 with rank 8; adapters r = d / reduction; LoRA
 * r = 8 on q and v). Learning rates are the starting points METHODS.md gives (5e-3 for the PEFT
 * methods, the MixPHM reference's); full finetuning uses 1e-4. Tuning them per method on a
 * tuning seed is issue 35 part 2's protocol, not run here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hf, peft, vl } from '../../src/index.ts';
import type { ModelBuilder } from '../../src/dsl/index.ts';
import type { LinearPath, SublayerPath } from '../../src/dsl/paths.ts';

export interface Towers {
  vision: string;
  text: string;
  /** Answer classes of an encoder's classifier (VQAv2's usual 3,129). */
  answers: number;
  /** Question tokens (and a T5 answer's, `answerLen`). */
  maxLen: number;
  answerLen: number;
  /** Bottleneck r = d / reduction for the adapters and MixPHM (METHODS.md: 12). */
  reduction: number;
}

export interface Method {
  name: string;
  lr: number;
  about: string;
  model(t: Towers): ModelBuilder;
}

/** Whether the text tower is T5 (an encoder-decoder that writes its answers). */
export function isT5(dir: string): boolean {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { model_type?: string };
  return config.model_type === 't5';
}

function backbone(t: Towers): ModelBuilder {
  const t5 = isT5(t.text);
  return vl.model({
    vision: hf.vision(t.vision),
    text: hf.text(t.text, t5 ? { maxLen: t.maxLen, targetLen: t.answerLen } : { maxLen: t.maxLen }),
    visualPrefix: 'pooled',
    head: t5 ? vl.lm() : vl.classifier({ answers: t.answers, loss: 'bce' }),
  });
}

/** The text model's blocks, as insertion paths: T5's encoder and decoder, or the encoder's layers. */
type Stack = 'encoder.layers.*' | 'decoder.layers.*' | 'text.layers.*';
const stacks = (t: Towers): Stack[] => (isT5(t.text) ? ['encoder.layers.*', 'decoder.layers.*'] : ['text.layers.*']);
const frozen = (t: Towers) => backbone(t).freeze('**');
const PEFT_LR = 5e-3;

export const METHODS: Method[] = [
  { name: 'full', lr: 1e-4, about: 'every weight trainable', model: (t) => backbone(t).insert(peft.full()) },
  { name: 'bitfit', lr: PEFT_LR, about: 'biases only', model: (t) => frozen(t).insert(peft.bitfit()) },
  {
    name: 'lora',
    lr: PEFT_LR,
    about: 'LoRA r = alpha = 8 on q and v',
    model: (t) =>
      frozen(t).insert(peft.lora({ at: stacks(t).map((s) => `${s}.attn.{q,v}` as LinearPath), rank: 8, alpha: 8 })),
  },
  {
    name: 'houlsby',
    lr: PEFT_LR,
    about: 'adapters after attention and FFN, r = d / reduction',
    model: (t) => frozen(t).insert(...stacks(t).map((s) => peft.houlsby(s, { reduction: t.reduction }))),
  },
  {
    name: 'pfeiffer',
    lr: PEFT_LR,
    about: 'adapters after the FFN, r = d / reduction',
    model: (t) => frozen(t).insert(...stacks(t).map((s) => peft.pfeiffer(s, { reduction: t.reduction }))),
  },
  {
    name: 'compacter',
    lr: PEFT_LR,
    about: 'PHM adapters after the FFN (n = 4, rank 8, shared S), r = d / reduction',
    model: (t) =>
      frozen(t).insert(
        peft.compacter({
          at: stacks(t).map((s) => `${s}.ffn` as SublayerPath),
          reduction: t.reduction,
          kron: 4,
          rank: 8,
        }),
      ),
  },
  {
    name: 'adamix',
    lr: PEFT_LR,
    about: '4 adapter experts after the FFN, random routing, averaged at inference',
    model: (t) =>
      frozen(t).insert(
        peft.adamix({ at: stacks(t).map((s) => `${s}.ffn` as SublayerPath), experts: 4, reduction: t.reduction }),
      ),
  },
  {
    name: 'mixphm',
    lr: PEFT_LR,
    about: 'MixPHM: 4 PHM experts after the FFN (n = 4, rank 8), r = d / reduction, redundancy regularization',
    model: (t) =>
      frozen(t)
        .insert(
          peft.mixphm({
            at: stacks(t).map((s) => `${s}.ffn` as SublayerPath),
            experts: 4,
            reduction: t.reduction,
            kron: 4,
            rank: 8,
          }),
        )
        .regularize({ red: 0.1, rel: 0.02 }),
  },
];

export function method(name: string): Method {
  const m = METHODS.find((x) => x.name === name);
  if (!m) throw new Error(`bench vqav2: no method '${name}' (methods: ${METHODS.map((x) => x.name).join(', ')})`);
  return m;
}
