/**
 * Makes what `npm run example` trains on, as a user would have it: two pretrained towers in HF
 * layout and a VQA dataset of image files with a JSONL per split.
 *   vit/   the MNIST-VQA ViT (config.json, model.safetensors, preprocessor_config.json)
 *   bert/  the BERT-style question encoder, jointly pretrained with it (+ tokenizer.json)
 *   images/*.png, train.jsonl, dev.jsonl, test.jsonl: downstream questions (sums, comparisons,
 *          positions, parity) the towers were not pretrained on, 10 annotators' answers each
 * The towers come from bench/vqa/checkpoints/hf-vl.safetensors (bench/vqa/pretrain.ts vl
 * --flavor hf, which starts from hf-vision.safetensors).
 *   npx tsx examples/mnist-vqa/make.ts [towers.safetensors]
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { exportTower } from '../../src/hf/export.ts';
import { CANVAS, DOWNSTREAM_FAMILIES, mnistVqa } from '../../bench/vqa/mnist-vqa.ts';
import { backbone } from '../../bench/vqa/model.ts';
import { questionText, writeTokenizer } from '../../bench/vqa/text.ts';
import { CHECKPOINTS, loadBackbone } from '../../bench/vqa/weights.ts';
import { writePreprocessor } from '../../bench/vqa/export-hf.ts';

const OUT = import.meta.dirname;
const SPLITS = { train: { split: 'train', n: 400, seed: 9101 }, dev: { split: 'train', n: 100, seed: 9102 }, test: { split: 'test', n: 200, seed: 9103 } } as const;

const { weights, meta } = loadBackbone(process.argv[2] ?? join(CHECKPOINTS, 'hf-vl.safetensors'));
const spec = backbone('hf').spec;
const params = lowerModel(spec, { batch: 1, mode: 'infer' }).graph.params();
for (const d of ['vit', 'bert', 'images']) rmSync(join(OUT, d), { recursive: true, force: true });

const nv = exportTower(spec, 'vision', weights, params, join(OUT, 'vit'));
writePreprocessor(join(OUT, 'vit'));
const nt = exportTower(spec, 'text', weights, params, join(OUT, 'bert'));
writeTokenizer(join(OUT, 'bert'));

mkdirSync(join(OUT, 'images'));
for (const [name, o] of Object.entries(SPLITS)) {
  const set = mnistVqa({ split: o.split, families: DOWNSTREAM_FAMILIES, n: o.n, seed: o.seed });
  const lines: string[] = [];
  for (let i = 0; i < set.examples.length; i++) {
    const file = `images/${name}-${String(i).padStart(4, '0')}.png`;
    const px = Buffer.from(set.examples[i].image.map((v) => Math.round(v * 255)));
    await sharp(px, { raw: { width: CANVAS, height: CANVAS, channels: 1 } }).png().toFile(join(OUT, file));
    lines.push(JSON.stringify({ image: file, question: questionText(set.questions[i]), answers: set.annotations[i] }));
  }
  writeFileSync(join(OUT, `${name}.jsonl`), `${lines.join('\n')}\n`);
}
console.log(`wrote ${OUT}: vit/ (${nv} tensors), bert/ (${nt} tensors, tokenizer.json), ${Object.values(SPLITS).reduce((a, s) => a + s.n, 0)} PNG scenes, train/dev/test.jsonl; towers from hf-vl.safetensors (${meta.command}, held-out ${meta.heldOut})`);
