/**
 * Norms as row primitives (issue 34): kernels and wall time of whole training steps whose norms
 * are many (LayerNorm in ViT/BERT/RoBERTa, RMSNorm in T5), every kernel in one submission,
 * timed as the median of rounds after a warm-up. Run it at two commits (before and after a
 * change to the norms) alternately, in one session, to compare:
 *   npx tsx bench/norm-steps.ts [--settings full,base,vlt5] [--rounds 5] [--cache .bench-cache]
 * - full: the example's towers fully finetuned, batch 32 (LayerNorm);
 * - base: ViT-B/16 + RoBERTa-base with routed LoRA (r = 128 on q, v), batch 4 (LayerNorm);
 * - vlt5: the benchmark's VL-T5 (bench/vqa/model.ts) fully finetuned, batch 32 (RMSNorm).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compile } from '../src/compiler/compile.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { peft, vl } from '../src/dsl/index.ts';
import type { ModelSpec } from '../src/dsl/spec.ts';
import { hf } from '../src/hf/towers.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { Executor } from '../src/runtime/executor.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { timePlan } from '../src/runtime/timing.ts';
import model from '../examples/mnist-vqa.spec.ts';
import { fullFinetuning } from './full-finetuning.ts';
import { ensureTower } from './hf-random.ts';
import { vlT5 } from './vqa/model.ts';

const { values: o } = parseArgs({
  options: {
    settings: { type: 'string', default: 'full,base,vlt5' },
    rounds: { type: 'string', default: '5' },
    cache: { type: 'string', default: '.bench-cache' },
  },
});
const SETTINGS: Record<string, { batch: number; spec: () => ModelSpec }> = {
  full: { batch: 32, spec: () => fullFinetuning(model.spec) },
  base: {
    batch: 4,
    spec: () => {
      const root = join(o.cache!, 'seed');
      return vl
        .model({
          vision: hf.vision(ensureTower(root, 'vit-base-patch16-224').dir),
          text: hf.text(ensureTower(root, 'roberta-base').dir, { maxLen: 32 }),
          visualPrefix: 'pooled',
          head: vl.classifier({ answers: 3129 }),
        })
        .freeze('**')
        .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 128, alpha: 128, routing: 'inner' }))
        .spec as ModelSpec;
    },
  },
  vlt5: { batch: 32, spec: () => fullFinetuning(vlT5().spec) as ModelSpec },
};

const gpu = await acquireDevice();
const profile = profileOf(gpu);
console.log(`adapter: ${gpu.info.description}`);
console.log('| step | batch | kernels | row kernels | ms per step (median) |');
console.log('| --- | --- | --- | --- | --- |');
for (const name of o.settings!.split(',')) {
  const s = SETTINGS[name];
  if (!s) throw new Error(`--settings: unknown '${name}' (valid: ${Object.keys(SETTINGS).join(', ')})`);
  const { plan } = compile(lowerModel(s.spec(), { batch: s.batch, mode: 'train' }).graph, {
    batch: s.batch,
    mode: 'train',
    profile,
  });
  const ex = await Executor.create(gpu, plan);
  const ms = await timePlan(gpu, ex, 1, Number(o.rounds));
  const rows = plan.kernels.filter((k) => k.kind === 'row').length;
  console.log(`| ${name} | ${s.batch} | ${plan.kernels.length} | ${rows} | ${ms.toFixed(1)} |`);
  ex.destroy();
}
gpu.destroy();
process.exit(0);
