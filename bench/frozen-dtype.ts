/**
 * Frozen weights in f32 against bf16 on the device (PlanOptions.frozenWeights), at base size with
 * random weights in HF layout (bench/hf-random.ts): ViT-B/16 + BERT-base with MixPHM on the text
 * FFNs, and ViT-B/16 + RoBERTa-base with routed LoRA (inner, q and v). For each: the device
 * memory of the training step's plan and of the inference plan, the step time, and the training
 * loss over the same 50 steps (same seed, data and order) in both dtypes.
 *   npx tsx bench/frozen-dtype.ts [--steps 50] [--batch 4] [--examples 16] [--settings bert-mixphm,roberta-lora] [--cache .bench-cache]
 * The frozen features are cached (train's default), so steps run the trainable part; the cache
 * itself is computed from the frozen weights in the dtype under test.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { COUNT, numberFlag } from './flags.ts';
import { compile } from '../src/compiler/compile.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import type { FrozenWeights, Plan } from '../src/compiler/plan.ts';
import { peft, vl } from '../src/dsl/index.ts';
import { hf } from '../src/hf/towers.ts';
import type { ModelSpec } from '../src/dsl/spec.ts';
import { pretrainedWeights } from '../src/hf/import.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { median } from '../src/runtime/timing.ts';
import { compileStep } from '../src/train/train-step.ts';
import { train, trainConfig } from '../src/train/trainer.ts';
import { ensureTower } from './hf-random.ts';

const { values: o } = parseArgs({
  options: {
    steps: { type: 'string', default: '50' },
    batch: { type: 'string', default: '4' },
    examples: { type: 'string', default: '16' },
    settings: { type: 'string', default: 'bert-mixphm,roberta-lora' },
    cache: { type: 'string', default: '.bench-cache' },
  },
});
const [steps, B, N] = (['steps', 'batch', 'examples'] as const).map((f) => numberFlag('frozen-dtype', f, o[f]!, COUNT));
const root = join(o.cache!, 'seed');
const vit = ensureTower(root, 'vit-base-patch16-224').dir;
const L = 16;

/** Each setting's model and learning rate (AdamW, constant): MixPHM's 1e-3; routed LoRA r = 128 at 1e-4 (1e-3 diverged in spikes, which no dtype comparison survives). */
const SETTINGS: Record<string, { lr: number; spec: () => ModelSpec }> = {
  'bert-mixphm': {
    lr: 1e-3,
    spec: () =>
      vl
        .model({
          vision: hf.vision(vit),
          text: hf.text(ensureTower(root, 'bert-base').dir, { maxLen: L }),
          visualPrefix: 'pooled',
          head: vl.classifier({ answers: 3129 }),
        })
        .freeze('**')
        .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 4, reduction: 12, kron: 4, rank: 8 }))
        .regularize({ red: 0.1, rel: 0.02 }).spec as ModelSpec,
  },
  'roberta-lora': {
    lr: 1e-4,
    spec: () =>
      vl
        .model({
          vision: hf.vision(vit),
          text: hf.text(ensureTower(root, 'roberta-base').dir, { maxLen: L }),
          visualPrefix: 'pooled',
          head: vl.classifier({ answers: 3129 }),
        })
        .freeze('**')
        .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 128, alpha: 128, routing: 'inner' }))
        .spec as ModelSpec,
  },
};

const mib = (b: number) => (b / 2 ** 20).toFixed(0);
/** Device bytes a plan allocates (whole buffers; ranges and packed parts are views of them), and of them the frozen params'. */
function deviceBytes(plan: Plan, frozen: Set<string>): { all: number; frozen: number } {
  const whole = plan.buffers.filter((b) => !b.view);
  const ids = new Set(
    Object.entries(plan.params)
      .filter(([k]) => frozen.has(k))
      .map(([, s]) => s.buffer),
  );
  return {
    all: whole.reduce((s, b) => s + b.bytes, 0),
    frozen: whole.filter((b) => ids.has(b.id)).reduce((s, b) => s + b.bytes, 0),
  };
}

const gpu = await acquireDevice();
const profile = profileOf(gpu);
console.log(
  `# Frozen weights in f32 and bf16 (${new Date().toISOString().slice(0, 10)})\n\nadapter: ${gpu.info.description}${gpu.info.isSoftware ? ' (software)' : ''}; batch ${B}, ${L} text tokens, ${steps} steps over ${N} examples, seed 1\n`,
);
for (const name of o.settings!.split(',')) {
  const spec = SETTINGS[name].spec();
  const lr = SETTINGS[name].lr;
  const graph = lowerModel(spec, { batch: B, mode: 'train' }).graph;
  const frozenNames = new Set(
    [...graph.params()].filter(([, n]) => !(n.attrs.info as { trainable: boolean }).trainable).map(([k]) => k),
  );
  const { weights } = pretrainedWeights(spec, graph);
  // Data: images and token ids drawn once (the same for both dtypes), soft targets on 8 answers.
  let s = 7;
  const r = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const examples = Array.from({ length: N }, () => {
    const targets = new Float32Array(3129);
    targets[Math.floor(r() * 8)] = 1;
    return {
      image: Float32Array.from({ length: 3 * 224 * 224 }, () => r() * 2 - 1),
      tokens: Int32Array.from({ length: L }, (_, j) => (j === 0 ? 0 : j < 12 ? 4 + Math.floor(r() * 250) : 1)),
      mask: Float32Array.from({ length: L }, (_, j) => (j < 12 ? 1 : 0)),
      targets,
    };
  });
  const rows: string[] = [];
  const curves: Record<string, number[]> = {};
  for (const dtype of ['f32', 'bf16'] as FrozenWeights[]) {
    const plan = { frozenWeights: dtype };
    const stepPlan = compileStep(graph, profile, {
      optimizer: { kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 },
      lr,
      schedule: { kind: 'constant' },
      totalSteps: steps,
      plan,
    }).plan;
    const inferPlan = compile(spec, { batch: B, mode: 'infer', profile, plan }).plan;
    const [st, inf] = [deviceBytes(stepPlan, frozenNames), deviceBytes(inferPlan, frozenNames)];
    const times: number[] = [];
    const losses: number[] = [];
    let last = performance.now();
    const t0 = performance.now();
    await train(
      gpu,
      spec,
      { train: { examples } },
      trainConfig({
        epochs: Math.ceil((steps * B) / N),
        batch: B,
        lr,
        seed: 1,
        schedule: { kind: 'constant' },
        backbone: weights,
        plan,
      }),
      {
        onStep: (res) => {
          const now = performance.now();
          if (res.step > 0) times.push(now - last);
          last = now;
          if (losses.length < steps) losses.push(res.losses.loss);
        },
      },
    );
    curves[dtype] = losses;
    rows.push(
      `| ${dtype} | ${mib(st.all)} (${mib(st.frozen)} frozen) | ${mib(inf.all)} (${mib(inf.frozen)} frozen) | ${(median(times) / 1000).toFixed(2)} | ${((performance.now() - t0) / 1000).toFixed(0)} | ${losses[0].toFixed(4)} | ${losses.at(-1)!.toFixed(4)} |`,
    );
  }
  const d = curves.f32.map((v, i) => Math.abs(v - curves.bf16[i]) / Math.abs(v));
  console.log(
    `## ${name}: ${name === 'bert-mixphm' ? 'ViT-B/16 + BERT-base, MixPHM on the text FFNs (+ regularizer)' : 'ViT-B/16 + RoBERTa-base, LoRA r = alpha = 128 with inner routing on q, v'}, lr ${lr}\n`,
  );
  console.log(
    '| frozen weights | training step plan (whole model), MiB | inference plan (batch 4), MiB | step s (median, cached features) | run s (cache + steps) | loss at step 1 | loss at step 50 |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
  console.log(
    `\nloss, bf16 against f32 over ${d.length} steps: relative difference max ${(Math.max(...d) * 100).toFixed(3)}%, mean ${((d.reduce((a, b) => a + b, 0) / d.length) * 100).toFixed(3)}%, at the last step ${(d.at(-1)! * 100).toFixed(3)}%\n`,
  );
  console.log(
    `losses f32:  ${curves.f32.map((v) => v.toFixed(4)).join(' ')}\nlosses bf16: ${curves.bf16.map((v) => v.toFixed(4)).join(' ')}\n`,
  );
}
gpu.destroy();
