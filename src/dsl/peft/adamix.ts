/** AdaMix's options and builder (lowering: compiler/lower/peft/adamix.ts). */
import { z } from 'zod';
import { parsePart } from '../parse.ts';
import type { SublayerPath } from '../paths.ts';
import { at, count, definePeft, dropoutRate, pos, type In } from './parts.ts';

export const AdaMixSpec = z.strictObject({
  method: z.literal('adamix'),
  at,
  experts: count.default(4),
  reduction: pos.optional(),
  bottleneck: pos.optional(),
  dropout: dropoutRate(0),
});
export type AdaMixSpec = z.infer<typeof AdaMixSpec>;

export const adamix = definePeft({
  schema: AdaMixSpec,
  builders: {
    adamix: (o: Omit<In<typeof AdaMixSpec>, 'at'> & { at: SublayerPath | SublayerPath[] }) =>
      parsePart(AdaMixSpec, { method: 'adamix', ...o }, 'adamix'),
  },
});
