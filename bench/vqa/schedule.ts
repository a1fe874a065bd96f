/**
 * The protocol's step budget (protocol.ts says why these numbers): a run's epochs, evaluation
 * interval and patience from k and the batch. Its own module: bench/vqav2 uses it without the
 * MNIST-VQA data.
 */
import { BATCH } from './batch.ts';

/** Steps a run aims at; epochs are whole, between minEpochs(k) and MAX_EPOCHS. */
const STEP_BUDGET = 600;
const MAX_EPOCHS = 300;
const EVALUATIONS = 20;
const PATIENCE = 5;

/**
 * At least 10 epochs, and 20 from k=1000 on: with 10 (620 steps) nearly every k=1000 run of the
 * first seeds ended on the budget, and seed 13's curves with 25 epochs (curve.ts) still gained
 * after epoch 10 (LoRA: best dev 0.574 in 10 epochs, 0.61-0.64 at epochs 15-21; full: 0.596,
 * then 0.601 at epoch 18). k <= 500 kept its budget (most of its runs stopped early on dev).
 */
const minEpochs = (k: number) => (k >= 1000 ? 20 : 10);

/**
 * A run's epochs, evaluation interval and patience. `scale` multiplies the epochs for a budget
 * check (does a longer run change a result?, run.ts --budget); evaluations stay about
 * EVALUATIONS per run, so patience covers the same share of it. `examples`: the training
 * examples a k-shot draw makes (k for VQA; three captions an image for captioning, where k
 * counts images), which sets the steps an epoch takes.
 */
export function schedule(
  k: number,
  scale = 1,
  batch = BATCH,
  examples = k,
): { epochs: number; evalEvery: number; patience: number; steps: number } {
  const perEpoch = Math.max(1, Math.floor(examples / batch));
  const base = Math.max(minEpochs(k), Math.min(MAX_EPOCHS, Math.round(STEP_BUDGET / perEpoch)));
  const epochs = Math.max(1, Math.round(base * scale));
  return {
    epochs,
    evalEvery: Math.max(1, Math.round(epochs / EVALUATIONS)),
    patience: PATIENCE,
    steps: epochs * perEpoch,
  };
}
