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
import { backbone, flavorOf, jointOf, vlT5 } from './model.ts';
import { familyScores } from './family-scores.ts';
import { CHECKPOINTS, loadBackbone } from './weights.ts';
import { PRETRAIN_FAMILIES, mnistVqa } from './mnist-vqa.ts';

const path = process.argv[2] ?? `${CHECKPOINTS}/vl.safetensors`;
const gpu = await acquireDevice();
try {
  const { weights, meta } = loadBackbone(path);
  const flavor = flavorOf(meta, path);
  const joint = jointOf(meta, path);
  const ev = await Evaluator.create(gpu, (flavor === 't5' ? vlT5() : backbone(flavor, joint)).spec, 50);
  ev.setWeights(weights);
  const ds = asFlavor(mnistVqa({ split: 'test', families: PRETRAIN_FAMILIES, n: 1000, seed: 2 }), flavor);
  const scores = await familyScores(ev, ds);
  console.log(
    `${path} (${flavor === 't5' ? 'VL-T5 encoder-decoder, generated answers' : `${flavor}, visual prefix ${joint.prefix}${joint.embed ? ', embedded' : ''}`}): held-out VQA accuracy per pretraining family (1000 questions, test-split digits)`,
  );
  for (const [f, v] of scores)
    console.log(`  ${f.padEnd(12)} ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(3)}  (${v.length})`);
  ev.destroy();
} finally {
  gpu.destroy();
}
