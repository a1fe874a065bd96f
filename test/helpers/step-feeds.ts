/** Values for a training step graph's own inputs (learning rate, bias corrections, seed, optimizer state), by their names' source. */
import { Value } from '../../src/compiler/ir/value.ts';
import { stateKindOf } from '../../src/compiler/optimizer.ts';
import { STEP_INPUTS } from '../../src/step-inputs.ts';
import { draw } from './random.ts';

/** A value for step input `name` of `shape`, or undefined when it is a model input (image, tokens...). */
export function stepFeed(name: string, shape: readonly number[], r: () => number, lr = 1e-3): Value | undefined {
  if (name === STEP_INPUTS.seed) return Value.of([], [1234], 'u32');
  if (name === STEP_INPUTS.lr) return Value.of([], [lr]);
  if (name === STEP_INPUTS.bc1) return Value.of([], [0.1]);
  if (name === STEP_INPUTS.bc2) return Value.of([], [1e-3]);
  const kind = stateKindOf(name);
  // The second moment is a mean of squares: never negative.
  if (kind) return draw(r, [...shape], kind === 'v' ? 'positive' : 'real');
  return undefined;
}
