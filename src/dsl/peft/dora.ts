/** DoRA's options and builder (its lowering and merge: compiler/lower/peft/dora.ts). */
import { z } from 'zod';
import { parsePart } from '../parse.ts';
import type { LinearPath } from '../paths.ts';
import { at, definePeft, dropoutRate, pos, type In } from './parts.ts';

export const DoraSpec = z.strictObject({
  method: z.literal('dora'),
  at,
  rank: pos,
  alpha: z.number().positive().optional(),
  dropout: dropoutRate(0),
});
export type DoraSpec = z.infer<typeof DoraSpec>;

export const dora = definePeft({
  schema: DoraSpec,
  builders: {
    /** DoRA (Liu et al. 2024) on the given linears: LoRA's direction update with a trained magnitude per output. */
    dora: (o: Omit<In<typeof DoraSpec>, 'at'> & { at: LinearPath | LinearPath[] }) =>
      parsePart(DoraSpec, { method: 'dora', ...o }, 'dora'),
  },
});
