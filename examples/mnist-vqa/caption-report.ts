/**
 * What `npm run example:caption` trained, against its floor, on the test images: CIDEr-D of the
 * captions the model writes before fine-tuning (the PEFT modules as initialized: the pretrained
 * decoder with the image's prefix it never learned to read), of the caption of the nearest
 * training image (by pixels: a caption that copies the most similar scene), and after
 * fine-tuning (the run's adapter).
 *   npx tsx examples/mnist-vqa/caption-report.ts [run dir]
 */
import { join } from 'node:path';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { captionScores } from '../../src/data/caption-metrics.ts';
import { toCaptionDataset } from '../../src/data/caption-dataset.ts';
import { readCaptions } from '../../src/data/captions.ts';
import { processorFor, tokenizerFor } from '../../src/data/encoders.ts';
import { acquireDevice } from '../../src/runtime/device.ts';
import { loadAdapter } from '../../src/train/adapter.ts';
import { baseWeights } from '../../src/train/identity.ts';
import { Evaluator } from '../../src/train/trainer.ts';

const run = process.argv[2] ?? 'runs/mnist-captions';
const dir = import.meta.dirname;
const trained = loadAdapter(run);
const { spec } = trained;
const e = { tokenizer: tokenizerFor(spec), processor: processorFor(spec), maxLen: spec.text!.maxLen };
const [train, test] = [readCaptions(join(dir, 'captions-train.jsonl')), readCaptions(join(dir, 'captions-test.jsonl'))];
const [trainSet, testSet] = [await toCaptionDataset(train, e, 'eval'), await toCaptionDataset(test, e, 'eval')];

// The nearest training image by pixels, and its first caption.
const pixels = (ds: typeof testSet, i: number) => ds.examples[i].image as Float32Array;
const nearest = testSet.examples.map((_, i) => {
  let best = 0;
  let bestD = Number.POSITIVE_INFINITY;
  for (let j = 0; j < trainSet.examples.length; j++) {
    const [a, b] = [pixels(testSet, i), pixels(trainSet, j)];
    let d = 0;
    for (let k = 0; k < a.length; k++) d += (a[k] - b[k]) ** 2;
    if (d < bestD) [best, bestD] = [j, d];
  }
  return train[best].captions[0];
});
const copied = captionScores(nearest.map((candidate, i) => ({ candidate, references: test[i].captions })));

const gpu = await acquireDevice();
const ev = await Evaluator.create(gpu, spec, 16);
const graph = lowerModel(spec, { batch: 1, mode: 'train' }).graph;
ev.setWeights(baseWeights(spec, graph, trained.seed));
const before = await ev.evaluate(testSet, 'test');
ev.setWeights(trained.weights);
const after = await ev.evaluate(testSet, 'test');
ev.destroy();
gpu.destroy();

const row = (what: string, s: { CIDEr_D: number; BLEU_4: number; ROUGE_L: number }) =>
  `  ${what.padEnd(52)} CIDEr-D ${s.CIDEr_D.toFixed(4)}  BLEU-4 ${s.BLEU_4.toFixed(4)}  ROUGE-L ${s.ROUGE_L.toFixed(4)}`;
console.log(`test, ${test.length} images (${test.reduce((n, r) => n + r.captions.length, 0)} reference captions):`);
console.log(row('before fine-tuning (PEFT modules as initialized)', before.captions!));
console.log(row("the nearest training image's caption (by pixels)", copied));
console.log(row('after fine-tuning (the run adapter)', after.captions!));
after.captions!.generated.slice(0, 3).forEach((c, i) => console.log(`  test-${String(i).padStart(4, '0')}.png: "${c}" (reference: "${test[i].captions[0]}")`));
