/**
 * Compile time against model depth: every stage of a training step's compilation (lower,
 * autodiff, optimizer, simplify, plan op-by-op and fused) for a ViT + text encoder of growing
 * vision depth (full finetuning, the largest backward), and for the base-size VL model of
 * bench/pretrained.ts (ViT-B/16 + BERT-base architecture, MixPHM on the text FFNs). No GPU.
 *   npx tsx bench/compile-time.ts [--depths 10,25,50,100]
 */
import { parseArgs } from 'node:util';
import { COUNT, numberList } from './flags.ts';
import { peft, vl } from '../src/dsl/index.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { autodiff } from '../src/compiler/autodiff.ts';
import { addOptimizer } from '../src/compiler/optimizer.ts';
import { simplify } from '../src/compiler/passes/simplify.ts';
import { compilePlan, PORTABLE_PROFILE } from '../src/compiler/plan.ts';
import type { ModelSpec } from '../src/dsl/spec.ts';

const { values } = parseArgs({ options: { depths: { type: 'string', default: '10,25,50,100' } } });

function time(
  spec: ModelSpec,
  batch: number,
): { nodes: number; kernels: number; stages: Record<string, number>; total: number } {
  const stages: Record<string, number> = {};
  let t = performance.now();
  const lap = (k: string) => {
    const n = performance.now();
    stages[k] = (n - t) / 1000;
    t = n;
  };
  const { graph } = lowerModel(spec, { batch, mode: 'train' });
  lap('lower');
  const { graph: joint } = autodiff(graph, { loss: 'loss' });
  lap('autodiff');
  const withOpt = addOptimizer(joint, { kind: 'adamw', clip: 5 }).graph;
  lap('optimizer');
  const { graph: g } = simplify(withOpt);
  lap('simplify');
  compilePlan(g, PORTABLE_PROFILE, { fuse: false });
  lap('plan op-by-op');
  const plan = compilePlan(g, PORTABLE_PROFILE);
  lap('plan fused');
  return {
    nodes: g.nodes.length,
    kernels: plan.kernels.length,
    stages,
    total: Object.values(stages).reduce((a, b) => a + b, 0),
  };
}

const row = (name: string, r: ReturnType<typeof time>) =>
  `| ${name} | ${r.nodes.toLocaleString('en-US')} | ${r.kernels.toLocaleString('en-US')} | ${Object.values(r.stages)
    .map((s) => s.toFixed(2))
    .join(' | ')} | **${r.total.toFixed(1)}** |`;

console.log(
  '| model | nodes | kernels | lower | autodiff | optimizer | simplify | plan op-by-op | plan fused | total s |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const depth of numberList('compile-time', 'depths', values.depths!, COUNT)) {
  const spec = vl.model({
    vision: vl.vit({ image: [56, 56], patch: 7, width: 64, depth, heads: 4 }),
    text: vl.encoder({ vocab: 40, maxLen: 12, width: 64, depth: 2, heads: 4 }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: 27 }),
  }).spec;
  console.log(row(`ViT depth ${depth}, full finetuning, batch 16`, time(spec, 16)));
}
const base = vl
  .model({
    vision: vl.vit({
      image: [224, 224],
      channels: 3,
      patch: 16,
      width: 768,
      depth: 12,
      heads: 12,
      act: 'gelu',
      eps: 1e-12,
    }),
    text: vl.encoder({
      vocab: 30522,
      maxLen: 16,
      width: 768,
      depth: 12,
      heads: 12,
      act: 'gelu',
      eps: 1e-12,
      norm: 'post',
      embedNorm: true,
      typeVocab: 2,
      pool: 'cls',
      positions: 512,
      padId: 0,
    }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: 3129 }),
  })
  .freeze('**')
  .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 4, reduction: 12, kron: 4, rank: 8 }))
  .regularize().spec;
console.log(row('ViT-B/16 + BERT-base, MixPHM, batch 2 (24 layers)', time(base, 2)));
