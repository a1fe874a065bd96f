/**
 * `peftgraph predict`: one image and one question through a trained checkpoint; prints the top
 * answers with their scores (sigmoid for a BCE head, softmax for CE). The answer strings are the
 * answers.json `train` wrote beside the checkpoint; the frozen weights are the spec's pretrained
 * towers and the run's seed, read from the checkpoint.
 */
import { lowerModel } from '../compiler/lower/index.ts';
import type { FrozenWeights } from '../compiler/plan.ts';
import { processorFor, tokenizerFor } from '../data/encoders.ts';
import { DataError } from '../data/errors.ts';
import { inputsIdentity, weightsWithCheckpoint } from '../train/identity.ts';
import { acquireDevice } from '../runtime/device.ts';
import { Evaluator } from '../train/trainer.ts';
import { answerScores } from '../runtime/metrics.ts';
import { rankAnswers } from '../data/answers.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { readAnswers } from './vqa-data.ts';

export interface PredictOptions {
  checkpoint: string;
  image: string;
  question: string;
  top: number;
  answers?: string;
  allowMismatch?: boolean;
  frozenWeights?: FrozenWeights;
}

export interface Prediction {
  answer: string;
  score: number;
}

export async function predict(spec: ModelSpec, o: PredictOptions): Promise<Prediction[]> {
  if (spec.head.kind !== 'classifier' || !spec.vision || !spec.text)
    throw new DataError(
      'predict answers questions about images: the spec needs vision and text towers and a classifier head',
    );
  const answers = readAnswers(spec, o.checkpoint, o.answers);
  const graph = lowerModel(spec, { batch: 1, mode: 'train' }).graph;
  const [tokenizer, processor] = [tokenizerFor(spec), processorFor(spec)];
  const inputs = inputsIdentity({ answers, tokenizer, processor });
  const { weights } = weightsWithCheckpoint(spec, graph, o.checkpoint, {
    allowMismatch: o.allowMismatch,
    keep16: (o.frozenWeights ?? 'f32') !== 'f32',
    inputs,
  });
  const { ids, mask } = tokenizer.encode(o.question, spec.text.maxLen);
  const image = await processor.load(o.image);
  const gpu = await acquireDevice();
  const ev = await Evaluator.create(gpu, spec, 1, { frozenWeights: o.frozenWeights }, false);
  try {
    ev.setWeights(weights);
    const feed = { image, tokens: ids, mask };
    const out = await ev.ex.run(Object.fromEntries(Object.entries(feed).filter(([k]) => ev.ex.plan.inputs[k])), [
      'logits',
    ]);
    return rankAnswers(answerScores(out.logits, spec.head.loss), answers, Number(o.top));
  } finally {
    ev.destroy();
    gpu.destroy();
  }
}
