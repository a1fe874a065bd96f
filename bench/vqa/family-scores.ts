/** Held-out VQA scores per question family, for any benchmark model (families.ts, ceiling.ts, near-check.ts). */
import { Evaluator, train } from '../../src/train/trainer.ts';
import type { Gpu } from '../../src/runtime/device.ts';
import type { Dataset } from '../../src/runtime/batches.ts';
import type { ModelSpec } from '../../src/dsl/spec.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { BATCH, OPTIMIZATION } from './protocol.ts';
import { argmax } from '../../src/runtime/metrics.ts';
import { answersEos, generatedScore } from '../../src/train/generate.ts';
import { ANSWERS, type MnistVqaSet } from './mnist-vqa.ts';

/**
 * Each question's VQA score, grouped by family: of the classifier's argmax answer, or, for a set
 * with answers (the encoder-decoder's, flavor.ts 't5'), of the answer the decoder writes.
 */
export async function familyScores(ev: Evaluator, set: MnistVqaSet): Promise<Map<string, number[]>> {
  const each: number[] = [];
  const answers = set.answers;
  if (answers)
    (await ev.generate(set, answers.start, answersEos(answers, 'family scores'))).forEach((g, i) =>
      each.push(generatedScore(g, answers, i).score),
    );
  else
    for await (const { out, start, valid } of ev.batches(set, ['logits']))
      for (let b = 0; b < valid; b++)
        each.push(set.examples[start + b].targets[argmax(out.logits, b * ANSWERS.length, ANSWERS.length)]);
  const out = new Map<string, number[]>();
  each.forEach((x, i) => out.set(set.questions[i].family, [...(out.get(set.questions[i].family) ?? []), x]));
  return out;
}

export interface Scores {
  overall: number;
  families: Record<string, { score: number; n: number }>;
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** `spec` with weights `w` on `set`: overall and per-family VQA accuracy. */
export async function scoreSet(
  gpu: Gpu,
  spec: ModelSpec,
  w: Record<string, Float32Array>,
  set: MnistVqaSet,
): Promise<Scores> {
  const ev = await Evaluator.create(gpu, spec, 50);
  try {
    ev.setWeights(w);
    const per = await familyScores(ev, set);
    return {
      overall: mean([...per.values()].flat()),
      families: Object.fromEntries([...per].map(([f, v]) => [f, { score: mean(v), n: v.length }])),
    };
  } finally {
    ev.destroy();
  }
}

export function printScores(name: string, r: Scores): void {
  console.log(`${name}: ${r.overall.toFixed(3)}`);
  for (const [f, v] of Object.entries(r.families)) console.log(`  ${f.padEnd(18)} ${v.score.toFixed(3)}  (${v.n})`);
}

/**
 * The ceiling's training, which every gate shares (ceiling.ts, near-check.ts, caption-check.ts):
 * `spec` trained on a whole pool with the protocol's optimization, early-stopped on `dev`
 * (patience in epochs); its best-dev weights with the frozen ones, ready to score.
 */
export async function trainCeiling(
  gpu: Gpu,
  spec: ModelSpec,
  o: { pool: Dataset; dev: Dataset; frozen: Record<string, Float32Array> },
  c: { epochs: number; lr: number; seed: number; patience: number },
  devName = 'dev',
): Promise<{ weights: Record<string, Float32Array>; bestEpoch: number; dev: number }> {
  const res = await train(
    gpu,
    spec,
    { train: o.pool, dev: o.dev },
    { ...c, batch: BATCH, ...OPTIMIZATION, evalEvery: 1, minDelta: 0, backbone: o.frozen },
    {
      onEpoch: (r) =>
        console.log(
          `  epoch ${r.epoch + 1}: train loss ${r.loss.toFixed(4)}, ${devName} ${r.dev?.accuracy.toFixed(3) ?? '-'}`,
        ),
    },
  );
  const weights = initialWeights(lowerModel(spec, { batch: 50, mode: 'infer' }).graph, c.seed, {
    ...o.frozen,
    ...res.bestWeights,
  });
  return { weights, bestEpoch: res.best!.epoch + 1, dev: res.best!.accuracy };
}

/** The VQA gates' ceiling run: trainCeiling, its weights scored per family on `test`. */
export async function ceilingRun(
  gpu: Gpu,
  spec: ModelSpec,
  o: { pool: MnistVqaSet; dev: MnistVqaSet; test: MnistVqaSet; frozen: Record<string, Float32Array> },
  c: { epochs: number; lr: number; seed: number; patience: number },
): Promise<Scores & { bestEpoch: number; dev: number } & typeof c> {
  const { weights, ...best } = await trainCeiling(gpu, spec, o, c);
  return { ...(await scoreSet(gpu, spec, weights, o.test)), ...best, ...c };
}
