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
import { backbone, jointOf, vlT5, type Flavor } from './model.ts';
import { answerOf } from '../../src/train/generate.ts';
import { CHECKPOINTS, loadBackbone } from './weights.ts';
import { ANSWERS, PRETRAIN_FAMILIES, mnistVqa } from './mnist-vqa.ts';

const path = process.argv[2] ?? `${CHECKPOINTS}/vl.safetensors`;
const gpu = await acquireDevice();
try {
  const { weights, meta } = loadBackbone(path);
  const flavor = (meta.flavor ?? 'native') as Flavor;
  const joint = jointOf(meta);
  const ev = await Evaluator.create(gpu, (flavor === 't5' ? vlT5() : backbone(flavor, joint)).spec, 50);
  ev.setWeights(weights);
  const ds = asFlavor(mnistVqa({ split: 'test', families: PRETRAIN_FAMILIES, n: 1000, seed: 2 }), flavor);
  // Each question's score: of the classifier's argmax answer, or of the answer the decoder writes.
  const each: number[] = [];
  if (flavor === 't5') (await ev.generate(ds, ds.answers!.start)).forEach((g, i) => each.push(answerOf(g, ds.answers!) < 0 ? 0 : ds.answers!.scores[i][answerOf(g, ds.answers!)]));
  else
    for await (const { out, start, valid } of ev.batches(ds, ['logits']))
      for (let b = 0; b < valid; b++) each.push(ds.examples[start + b].targets[argmax(out.logits, b * ANSWERS.length, ANSWERS.length)]);
  const scores = new Map<string, number[]>();
  each.forEach((x, i) => scores.set(ds.questions[i].family, [...(scores.get(ds.questions[i].family) ?? []), x]));
  console.log(
    `${path} (${flavor === 't5' ? 'VL-T5 encoder-decoder, generated answers' : `${flavor}, visual prefix ${joint.prefix}${joint.embed ? ', embedded' : ''}`}): held-out VQA accuracy per pretraining family (1000 questions, test-split digits)`,
  );
  for (const [f, v] of scores) console.log(`  ${f.padEnd(12)} ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(3)}  (${v.length})`);
  ev.destroy();
} finally {
  gpu.destroy();
}
