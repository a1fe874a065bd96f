/**
 * Per-family held-out VQA accuracy of a vl checkpoint on the pretraining families, to see what
 * pretraining taught (e.g. counting is easy, reading digits is not):
 *
 *   npx tsx bench/vqa/families.ts [bench/vqa/checkpoints/vl.safetensors]
 */
import { acquireDevice } from '../../src/runtime/device.ts';
import { Evaluator } from '../../src/runtime/trainer.ts';
import { makeBatch } from '../../src/runtime/data.ts';
import { argmax } from '../../src/runtime/metrics.ts';
import { backbone } from './model.ts';
import { CHECKPOINTS, loadBackbone } from './weights.ts';
import { ANSWERS, PRETRAIN_FAMILIES, mnistVqa } from './mnist-vqa.ts';

const path = process.argv[2] ?? `${CHECKPOINTS}/vl.safetensors`;
const batch = 50;
const gpu = await acquireDevice();
try {
  const ev = await Evaluator.create(gpu, backbone().spec, batch);
  ev.setWeights(loadBackbone(path).weights);
  const ds = mnistVqa({ split: 'test', families: PRETRAIN_FAMILIES, n: 1000, seed: 2 });
  const scores = new Map<string, number[]>();
  for (let i = 0; i < ds.examples.length; i += batch) {
    const idx = [...Array(batch).keys()].map((j) => i + j);
    const { inputs } = makeBatch(ds, idx, batch);
    const { logits } = await ev.ex.run({ image: inputs.image, tokens: inputs.tokens, mask: inputs.mask }, ['logits']);
    idx.forEach((e, b) => {
      const f = ds.questions[e].family;
      scores.set(f, [...(scores.get(f) ?? []), ds.examples[e].targets[argmax(logits, b * ANSWERS.length, ANSWERS.length)]]);
    });
  }
  console.log(`${path}: held-out VQA accuracy per pretraining family (1000 questions, test-split digits)`);
  for (const [f, v] of scores) console.log(`  ${f.padEnd(12)} ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(3)}  (${v.length})`);
  ev.destroy();
} finally {
  gpu.destroy();
}
