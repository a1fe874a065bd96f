/**
 * A diagnostic of the routing settings' gate: does the routed feature (the ViT's pooled output,
 * the one prefix token) carry the cells, as the model sees it? Writes each image's feature and
 * its four cells (digit, or 10 for empty) for the alignment pool and test set, and the test set's
 * questions with their ten annotators' answers (the probe is fit on cells, never on questions).
 * visual_probe.py fits a linear probe on the pool (PyTorch, independent of peftgraph), scores it
 * on the test set's cells, then answers the test questions from its reads: what the feature
 * allows a model that reads it cell by cell.
 *
 *   npx tsx bench/vqa/visual-probe.ts [--out /tmp/probe] && python3 bench/vqa/visual_probe.py /tmp/probe
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { acquireDevice } from '../../src/runtime/device.ts';
import { Evaluator } from '../../src/train/trainer.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { method } from './methods.ts';
import { loadSettingBackbone } from './run-one.ts';
import { nearPool, nearTest } from './near.ts';
import { BATCH } from './protocol.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: '/tmp/probe' } } });
const out = values.out!;
mkdirSync(out, { recursive: true });
const SETTING = 'near-routing';
const spec = method(`${SETTING}/full`).model().spec;
const gpu = await acquireDevice();
const ev = await Evaluator.create(gpu, spec, BATCH);
try {
  ev.setWeights(
    initialWeights(lowerModel(spec, { batch: BATCH, mode: 'infer' }).graph, 1, loadSettingBackbone(SETTING)),
  );
  for (const [name, set] of [
    ['pool', nearPool('hf', 'near-align')],
    ['test', nearTest('hf', 'near-align')],
  ] as const) {
    const feats: number[] = [];
    for await (const { out: o, valid } of ev.batches(set, ['visual'])) {
      const v = o.visual as Float32Array;
      feats.push(...v.subarray(0, (valid * v.length) / BATCH));
    }
    const cells = set.scenes.flatMap((sc) => sc.cells.map((c) => (c < 0 ? 10 : c)));
    const asked =
      name === 'test'
        ? { questions: set.questions.map((q) => ({ family: q.family, words: q.words })), annotations: set.annotations }
        : {};
    writeFileSync(join(out, `${name}.json`), JSON.stringify({ n: set.examples.length, feats, cells, ...asked }));
    console.log(`${name}: ${set.examples.length} images -> ${join(out, `${name}.json`)}`);
  }
} finally {
  ev.destroy();
  gpu.destroy();
}
