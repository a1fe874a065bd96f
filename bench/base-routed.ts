/**
 * The base-size routing setting the step benches compile (ceiling.ts, norm-steps.ts): ViT-B/16 +
 * RoBERTa-base (random weights in HF layout, hf-random.ts), the pooled image as a prefix token,
 * routed LoRA (inner, r = alpha = 128) on q and v, the VQA head (3,129 answers), text length 32.
 */
import { join } from 'node:path';
import { peft, vl } from '../src/dsl/index.ts';
import type { ModelSpec } from '../src/dsl/spec.ts';
import { hf } from '../src/hf/towers.ts';
import { ensureTower } from './hf-random.ts';

export function baseRoutedLora(cache: string): ModelSpec {
  const root = join(cache, 'seed');
  return vl
    .model({
      vision: hf.vision(ensureTower(root, 'vit-base-patch16-224').dir),
      text: hf.text(ensureTower(root, 'roberta-base').dir, { maxLen: 32 }),
      visualPrefix: 'pooled',
      head: vl.classifier({ answers: 3129 }),
    })
    .freeze('**')
    .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 128, alpha: 128, routing: 'inner' })).spec as ModelSpec;
}
