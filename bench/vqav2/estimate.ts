/**
 * What a run of the VQAv2 recipe costs at base size (ViT-B/16 at 224 px + BERT-base, questions of
 * 20 tokens, batch 16), counted, not timed: the matmul FLOPs of each method's compiled training
 * step and of one example's inference, from the graphs peftgraph builds for those towers' configs
 * (written here; no weights are needed to count). Matmuls are nearly all of a transformer's
 * FLOPs; the rest is left out. A step's count includes the frozen ViT's forward, which the
 * frozen-feature cache computes once per example instead, so PEFT steps are upper bounds. The time per run is then an estimate at an assumed sustained
 * rate (--tflops), stated as such in bench/vqav2/README.md.
 *
 *   npx tsx bench/vqav2/estimate.ts [--tflops 15] [--test 214354]
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { attrsOf } from '../../src/compiler/ir/attrs.ts';
import type { Graph } from '../../src/compiler/ir/graph.ts';
import { compile } from '../../src/compiler/compile.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { matmulDims } from '../../src/compiler/ops/matmul.ts';
import { BERT_BASE, VIT_B16 } from '../hf-random.ts';
import { schedule } from '../vqa/schedule.ts';
import { METHODS, type Towers } from './methods.ts';
import { POSITIVE, numberFlag } from '../flags.ts';

const { values: o } = parseArgs({
  options: { tflops: { type: 'string', default: '15' }, test: { type: 'string', default: '214354' } },
});
const TFLOPS = numberFlag('estimate', 'tflops', o.tflops!, POSITIVE);
const TEST = numberFlag('estimate', 'test', o.test!, { integer: true, min: 1 });
const BATCH = 16;

/** The base configs, as their HF directories hold them (config.json only). */
function baseTowers(): Towers {
  const root = mkdtempSync(join(tmpdir(), 'pg-vqav2-base-'));
  const write = (name: string, config: object) => {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, 'config.json'), JSON.stringify(config));
    return join(root, name);
  };
  const vision = write('vit', VIT_B16);
  const text = write('bert', { ...BERT_BASE, position_embedding_type: 'absolute' });
  return { vision, text, answers: 3129, maxLen: 20, answerLen: 8, reduction: 12 };
}

/** 2·M·K·N per matmul (times its batch), over the graph. */
function matmulFlops(g: Graph): number {
  let flops = 0;
  for (const n of g.nodes.values()) {
    if (n.op !== 'matmul') continue;
    const [A, B] = n.inputs.map((i) => g.get(i));
    const { transA, transB } = attrsOf(n, 'matmul');
    const { M, K, N, batch } = matmulDims(A.shape, B.shape, { transA, transB }, 'matmul');
    flops += 2 * M * K * N * batch.reduce((p, q) => p * q, 1);
  }
  return flops;
}

const towers = baseTowers();
const infer = matmulFlops(lowerModel(METHODS[0].model(towers).spec, { batch: 1, mode: 'infer' }).graph);
console.log(
  `base size (ViT-B/16 224 px + BERT-base, ${towers.maxLen} tokens): inference ${(infer / 1e9).toFixed(1)} GFLOP an example; at ${TFLOPS} TFLOP/s sustained, test set of ${TEST.toLocaleString('en-US')} questions ${((infer * TEST) / (TFLOPS * 1e12) / 60).toFixed(1)} min`,
);
console.log(
  '\n| method | step GFLOP (batch 16) | k | steps | train + dev (min) | + test (min) |\n| --- | --- | --- | --- | --- | --- |',
);
for (const m of METHODS) {
  // The compiled step: forward, backward (autodiff) and update, simplified.
  const step = matmulFlops(compile(m.model(towers).spec, { batch: BATCH, mode: 'train' }).graph);
  for (const k of [16, 1000]) {
    const s = schedule(k, 1, BATCH);
    // Dev: about 20 evaluations of k examples each.
    const train = s.steps * step + 20 * k * infer;
    const minutes = (f: number) => (f / (TFLOPS * 1e12) / 60).toFixed(1);
    console.log(
      `| ${m.name} | ${(step / 1e9).toFixed(0)} | ${k} | ${s.steps} | ${minutes(train)} | ${minutes(train + TEST * infer)} |`,
    );
  }
}
