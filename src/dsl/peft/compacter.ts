/** Compacter's options and builder (lowering: compiler/lower/peft/compacter.ts). */
import { z } from 'zod';
import { parsePart } from '../parse.ts';
import type { SublayerPath } from '../paths.ts';
import { AdapterActivation } from './adapter.ts';
import { at, definePeft, phmFields, type In } from './parts.ts';

export const CompacterSpec = z.strictObject({
  method: z.literal('compacter'),
  at,
  ...phmFields,
  activation: AdapterActivation.default('gelu'),
});
export type CompacterSpec = z.infer<typeof CompacterSpec>;

export const compacter = definePeft({
  schema: CompacterSpec,
  builders: {
    compacter: (o: Omit<In<typeof CompacterSpec>, 'at'> & { at: SublayerPath | SublayerPath[] }) =>
      parsePart(CompacterSpec, { method: 'compacter', ...o }, 'compacter'),
  },
});
