/** BitFit's options and builder (which params it unfreezes: compiler/lower/peft/bitfit.ts). */
import { z } from 'zod';
import { parsePart } from '../parse.ts';
import { at, definePeft } from './parts.ts';

export const BitFitSpec = z.strictObject({ method: z.literal('bitfit'), at: at.default('**') });
export type BitFitSpec = z.infer<typeof BitFitSpec>;

export const bitfit = definePeft({
  schema: BitFitSpec,
  builders: {
    bitfit: (o: { at?: string | string[] } = {}) => parsePart(BitFitSpec, { method: 'bitfit', ...o }, 'bitfit'),
  },
});
