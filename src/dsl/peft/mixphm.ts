/** MixPHM's options and builder (lowering: compiler/lower/peft/mixphm.ts). */
import { z } from 'zod';
import { parsePart } from '../parse.ts';
import type { SublayerPath } from '../paths.ts';
import { at, count, definePeft, dropoutRate, phmFields, type In } from './parts.ts';

export const MixPhmSpec = z.strictObject({
  method: z.literal('mixphm'),
  at,
  experts: count.default(4),
  ...phmFields,
  /** The down projection is shared by the module's experts; `none` gives each expert its own. */
  shareDown: z.enum(['module', 'none']).default('module'),
  dropout: dropoutRate(0.5),
  alpha: z.number().default(1),
});
export type MixPhmSpec = z.infer<typeof MixPhmSpec>;

export const mixphm = definePeft({
  schema: MixPhmSpec,
  builders: {
    mixphm: (o: Omit<In<typeof MixPhmSpec>, 'at'> & { at: SublayerPath | SublayerPath[] }) =>
      parsePart(MixPhmSpec, { method: 'mixphm', ...o }, 'mixphm'),
  },
});
