/**
 * Per-family held-out VQA accuracy of a vl checkpoint on the pretraining families, to see what
 * pretraining taught (e.g. counting is easy, reading digits is not):
 *
 *   npx tsx bench/vqa/families.ts [bench/vqa/checkpoints/vl.safetensors]
 *
 * The flavor (native or hf, model.ts) comes from the checkpoint's metadata; hf models read the
 * questions through text.ts's WordPiece tokenizer, as they were trained.
 */
import { asFlavor } from './flavor.ts';
import { acquireDevice } from '../../src/runtime/device.ts';
import { Evaluator } from '../../src/train/trainer.ts';
import { argmax } from '../../src/runtime/metrics.ts';
import { backbone, jointOf, type Flavor } from './model.ts';
import { CHECKPOINTS, loadBackbone } from './weights.ts';
import { ANSWERS, PRETRAIN_FAMILIES, mnistVqa } from './mnist-vqa.ts';

const path = process.argv[2] ?? `${CHECKPOINTS}/vl.safetensors`;
const gpu = await acquireDevice();
try {
  const { weights, meta } = loadBackbone(path);
  const flavor = (meta.flavor ?? 'native') as Flavor;
  const joint = jointOf(meta);
  const ev = await Evaluator.create(gpu, backbone(flavor, joint).spec, 50);
  ev.setWeights(weights);
  const ds = asFlavor(mnistVqa({ split: 'test', families: PRETRAIN_FAMILIES, n: 1000, seed: 2 }), flavor);
  const scores = new Map<string, number[]>();
  for await (const { out, start, valid } of ev.batches(ds, ['logits'])) {
    for (let b = 0; b < valid; b++) {
      const f = ds.questions[start + b].family;
      scores.set(f, [...(scores.get(f) ?? []), ds.examples[start + b].targets[argmax(out.logits, b * ANSWERS.length, ANSWERS.length)]]);
    }
  }
  console.log(`${path} (${flavor}, visual prefix ${joint.prefix}${joint.embed ? ', embedded' : ''}): held-out VQA accuracy per pretraining family (1000 questions, test-split digits)`);
  for (const [f, v] of scores) console.log(`  ${f.padEnd(12)} ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(3)}  (${v.length})`);
  ev.destroy();
} finally {
  gpu.destroy();
}
