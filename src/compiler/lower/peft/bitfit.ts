/** BitFit (Ben Zaken et al. 2022): only the biases (and norm shifts) the globs select train. */
import { defineMethod } from './method.ts';
import { matches } from '../../../dsl/paths.ts';
import type { BitFitSpec } from '../../../dsl/peft/bitfit.ts';

export const bitfitMethod = defineMethod<BitFitSpec>({
  attach: 'params',
  tag: null,
  unfreezes: (spec, name) => name.endsWith('.b') && matches(spec.at, name),
});
