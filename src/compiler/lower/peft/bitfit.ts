/** BitFit (Ben Zaken et al. 2022): only the biases (and norm shifts) the globs select train. */
import { z } from 'zod';
import { at } from './parts.ts';
import { defineMethod } from './method.ts';
import { matches } from '../../../dsl/paths.ts';
import { parsePart } from '../../../dsl/parse.ts';

export const BitFitSpec = z.strictObject({ method: z.literal('bitfit'), at: at.default('**') });
type BitFitSpec = z.infer<typeof BitFitSpec>;

export const bitfitMethod = defineMethod<BitFitSpec>({
  schema: BitFitSpec,
  attach: 'params',
  tag: null,
  unfreezes: (spec, name) => name.endsWith('.b') && matches(spec.at, name),
});

export const bitfitBuilders = {
  bitfit: (o: { at?: string | string[] } = {}) => parsePart(BitFitSpec, { method: 'bitfit', ...o }, 'bitfit'),
};
