/**
 * Makes what `npm run example` trains on, as a user would have it: two pretrained towers in HF
 * layout and a VQA dataset of image files with a JSONL per split.
 *   vit/   the MNIST-VQA ViT (config.json, model.safetensors, preprocessor_config.json)
 *   bert/  the BERT-style question encoder, jointly pretrained with it (+ tokenizer.json)
 *   prefix.safetensors  the visual prefix's embedding pretrained with the towers (prefix.*: the
 *          projection, norm and position rows that carry each cell into the question encoder;
 *          spec.init starts them from it, as LLaVA ships its projector beside its towers)
 *   images/*.png, train.jsonl, dev.jsonl, test.jsonl: bench/vqa's near-transfer questions
 *          (bench/vqa/near.ts): every family the towers were pretrained on, asked in new
 *          templates, about digit samples they never saw, with more 9s and fewer empty cells;
 *          10 annotators' answers each
 * The towers come from bench/vqa/checkpoints/hf-near-vl.safetensors (bench/vqa/near-pretrain.sh).
 * Its VQA head is not shipped: the example's answer classes come from its own training file, so
 * the head is new.
 *   npx tsx examples/mnist-vqa/make.ts [towers.safetensors]
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { exportTower } from '../../src/hf/export.ts';
import { mnistVqa } from '../../bench/vqa/mnist-vqa.ts';
import { writeScene } from './png.ts';
import { backbone } from '../../bench/vqa/model.ts';
import { VL_JOINT } from '../../bench/vqa/methods.ts';
import { NEAR_DOWNSTREAM, NEAR_TEST } from '../../bench/vqa/near.ts';
import { familyPrior } from '../../bench/vqa/protocol.ts';
import { questionText, writeTokenizer } from '../../bench/vqa/text.ts';
import { CHECKPOINTS, loadBackbone } from '../../bench/vqa/weights.ts';
import { writePreprocessor } from '../../bench/vqa/export-hf.ts';
import { encodeSafetensors, writeAtomic } from '../../src/runtime/safetensors.ts';

const OUT = import.meta.dirname;
// Seeds apart from the benchmark's pool (8001), test (8002) and dev (8003) draws.
const SPLITS = {
  train: { draw: NEAR_DOWNSTREAM, n: 400, seed: 9101 },
  dev: { draw: NEAR_DOWNSTREAM, n: 100, seed: 9102 },
  test: { draw: NEAR_TEST, n: 300, seed: 9103 },
} as const;

const source = process.argv[2] ?? join(CHECKPOINTS, 'hf-near-vl.safetensors');
const { weights, meta } = loadBackbone(source);
if (meta.data !== 'near')
  throw new Error(`make: the towers must be pretrained on near-transfer data (metadata data '${meta.data ?? 'none'}')`);
const spec = backbone('hf', VL_JOINT).spec;
const params = lowerModel(spec, { batch: 1, mode: 'infer' }).graph.params();
for (const d of ['vit', 'bert', 'images']) rmSync(join(OUT, d), { recursive: true, force: true });

const nv = exportTower(spec, 'vision', weights, params, join(OUT, 'vit'));
writePreprocessor(join(OUT, 'vit'));
const nt = exportTower(spec, 'text', weights, params, join(OUT, 'bert'));
writeTokenizer(join(OUT, 'bert'));

const prefix = [...params].filter(([name]) => name.startsWith('prefix.'));
if (!prefix.length || prefix.some(([name]) => !weights[name])) throw new Error('make: the checkpoint lacks the prefix embedding');
writeAtomic(
  join(OUT, 'prefix.safetensors'),
  encodeSafetensors(new Map(prefix.map(([name, p]) => [name, { shape: [...p.shape], data: weights[name] }])), {
    source: basename(source),
  }),
);

mkdirSync(join(OUT, 'images'));
const sets = Object.fromEntries(Object.entries(SPLITS).map(([name, o]) => [name, mnistVqa({ ...o.draw, n: o.n, seed: o.seed })]));
for (const [name, set] of Object.entries(sets)) {
  const lines: string[] = [];
  for (let i = 0; i < set.examples.length; i++) {
    const file = `images/${name}-${String(i).padStart(4, '0')}.png`;
    await writeScene(join(OUT, file), set.examples[i].image);
    lines.push(JSON.stringify({ image: file, question: questionText(set.questions[i]), answers: set.annotations[i] }));
  }
  writeFileSync(join(OUT, `${name}.jsonl`), `${lines.join('\n')}\n`);
}
console.log(
  `wrote ${OUT}: vit/ (${nv} tensors), bert/ (${nt} tensors, tokenizer.json), prefix.safetensors (${prefix.length} tensors), ${Object.values(SPLITS).reduce((a, s) => a + s.n, 0)} PNG scenes, train/dev/test.jsonl; towers from ${basename(source)} (${meta.command})`,
);
// The README's floor: each test question answered with its family's most common training answer.
console.log(`floor: ${familyPrior(sets.train, sets.test).toFixed(3)} test VQA accuracy`);
