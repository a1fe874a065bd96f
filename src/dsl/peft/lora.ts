/** LoRA's options and builder (its lowering and merge: compiler/lower/peft/lora.ts). */
import { z } from 'zod';
import { parsePart } from '../parse.ts';
import type { LinearPath } from '../paths.ts';
import { at, definePeft, dropoutRate, pos, Routing, type In } from './parts.ts';

export const LoraSpec = z.strictObject({
  method: z.literal('lora'),
  at,
  rank: pos,
  alpha: z.number().positive().optional(),
  dropout: dropoutRate(0),
  routing: Routing.default('none'),
});
export type LoraSpec = z.infer<typeof LoraSpec>;

export const lora = definePeft({
  schema: LoraSpec,
  builders: {
    lora: (o: Omit<In<typeof LoraSpec>, 'at'> & { at: LinearPath | LinearPath[] }) =>
      parsePart(LoraSpec, { method: 'lora', ...o }, 'lora'),
  },
  needsVisual: (spec) => spec.routing !== 'none',
});
