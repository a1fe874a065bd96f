/**
 * Makes what `npm run example:caption` trains on, beside the VQA example's files:
 *   caption-images/*.png  scenes of the far-transfer downstream splits (issue 19's questions'
 *                         scenes, the VQA example's before it moved to near transfer)
 *   captions-{train,dev,test}.jsonl  each image with three templated captions of its digits and
 *                                    their positions ("three at the top left and seven at the
 *                                    bottom right", "a three and a seven", "two digits three and
 *                                    seven"), an empty grid said so
 *   vit-cells/  the ViT of the benchmark's first pretraining stage (bench/vqa/checkpoints/
 *          hf-cells.safetensors: each cell's digit read from its patch tokens, 95% held out), in
 *          HF layout: the captions need which digit sits in which cell, and the VQA example's ViT
 *          (vit/, pretrained further through its pooled CLS) keeps that in its patch tokens less
 *   gpt2/  a small GPT-2-style decoder in HF layout (config.json, model.safetensors, a word-level
 *          tokenizer.json and tokenizer_config.json), pretrained by peftgraph as a language model
 *          on the captions of 3,000 other training scenes: it knows how captions go, not which
 *          digits an image holds
 *   npx tsx examples/mnist-vqa/make-captions.ts
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeScene } from './png.ts';
import { CAPTION_LEN, CAPTION_WORDS, captionIds, captionsOf, writeCaptionTokenizer } from '../../bench/vqa/captions.ts';
import { DOWNSTREAM_FAMILIES, mnistVqa } from '../../bench/vqa/mnist-vqa.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { vl } from '../../src/dsl/index.ts';
import { exportTower } from '../../src/hf/export.ts';
import { acquireDevice } from '../../src/runtime/device.ts';
import { prng } from '../../src/runtime/init.ts';
import { writePreprocessor } from '../../bench/vqa/export-hf.ts';
import { backbone } from '../../bench/vqa/model.ts';
import { CHECKPOINTS, loadBackbone } from '../../bench/vqa/weights.ts';
import { train, trainConfig } from '../../src/train/trainer.ts';

const OUT = import.meta.dirname;
// The scenes of the VQA example's former splits (make.ts before near transfer): the captions were measured on these.
const SPLITS = { train: { split: 'train', n: 400, seed: 9101 }, dev: { split: 'train', n: 100, seed: 9102 }, test: { split: 'test', n: 200, seed: 9103 } } as const;
const WORDS = CAPTION_WORDS;
const MAX_LEN = CAPTION_LEN;


    rmSync(join(OUT, 'caption-images'), { recursive: true, force: true });
    mkdirSync(join(OUT, 'caption-images'));
    for (const [name, o] of Object.entries(SPLITS)) {
      const set = mnistVqa({ split: o.split, families: DOWNSTREAM_FAMILIES, n: o.n, seed: o.seed });
      const file = (i: number) => `caption-images/${name}-${String(i).padStart(4, '0')}.png`;
      for (let i = 0; i < set.examples.length; i++) await writeScene(join(OUT, file(i)), set.examples[i].image);
      const lines = set.scenes.map((s, i) => JSON.stringify({ image: file(i), captions: captionsOf(s) }));
      writeFileSync(join(OUT, `captions-${name}.jsonl`), `${lines.join('\n')}\n`);
    }
    // The decoder's pretraining text: captions of other training scenes (another seed), no images.
    const text = mnistVqa({ split: 'train', families: DOWNSTREAM_FAMILIES, n: 3000, seed: 4242 }).scenes.flatMap(captionsOf);
    const examples = text.map(captionIds);
    const r = prng(7);
    const held = new Set(Array.from({ length: 300 }, () => Math.floor(r() * examples.length)));
    const spec = vl.model({ text: vl.decoder({ vocab: WORDS.length, maxLen: MAX_LEN, width: 64, depth: 2, heads: 4 }), head: vl.lm() }).spec;
    const gpu = await acquireDevice();
    const res = await train(
      gpu,
      spec,
      { train: { examples: examples.filter((_, i) => !held.has(i)) }, dev: { examples: [...held].map((i) => examples[i]) } },
      trainConfig({ epochs: 6, batch: 32, lr: 3e-3, seed: 1, evalEvery: 2 }),
    );
    gpu.destroy();
    // The cell-reading ViT, exported as the VQA example exports its own (make.ts).
    const cells = loadBackbone(join(CHECKPOINTS, 'hf-cells.safetensors'));
    const vitSpec = backbone('hf').spec;
    const vitDir = join(OUT, 'vit-cells');
    rmSync(vitDir, { recursive: true, force: true });
    const nv = exportTower(vitSpec, 'vision', cells.weights, lowerModel(vitSpec, { batch: 1, mode: 'infer' }).graph.params(), vitDir);
    writePreprocessor(vitDir);
    const dir = join(OUT, 'gpt2');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const params = lowerModel(spec, { batch: 1, mode: 'infer' }).graph.params();
    const n = exportTower(spec, 'text', res.bestWeights, params, dir);
    writeCaptionTokenizer(dir);
    const best = res.best ? `, held-out next-token accuracy ${res.best.accuracy.toFixed(3)}` : '';
    console.log(`wrote ${OUT}: captions-{train,dev,test}.jsonl; vit-cells/ (${nv} tensors, ${cells.meta.scoreName} ${cells.meta.heldOut}); gpt2/ (${n} tensors, tokenizer.json: ${WORDS.length} words), pretrained on ${text.length} captions${best}`);
