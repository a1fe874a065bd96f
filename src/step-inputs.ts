/**
 * The names a compiled training step's own inputs go by: the optimizer (compiler/optimizer.ts)
 * declares them, the step runner (runtime/step-runner.ts) feeds them every step, artifacts list
 * them as internal. One place, so neither side can rename one alone.
 */
export const STEP_INPUTS = {
  /** The learning rate of this step (the schedule's value). */
  lr: 'opt.lr',
  /** AdamW's bias corrections 1 / (1 - beta^t). */
  bc1: 'opt.bc1',
  bc2: 'opt.bc2',
  /** The step's random seed (dropout, expert choice). */
  seed: 'seed',
} as const;
