/** (IA)^3's options and builder (lowering and merge: compiler/lower/peft/ia3.ts). */
import { z } from 'zod';
import { parsePart } from '../parse.ts';
import type { LinearPath } from '../paths.ts';
import { at, definePeft } from './parts.ts';

export const Ia3Spec = z.strictObject({ method: z.literal('ia3'), at });
export type Ia3Spec = z.infer<typeof Ia3Spec>;

export const ia3 = definePeft({
  schema: Ia3Spec,
  builders: {
    /** (IA)^3 on the given linears: keys and values (`...attn.{k,v}`) and FFN activations (`...ffn.down`). */
    ia3: (o: { at: LinearPath | LinearPath[] }) => parsePart(Ia3Spec, { method: 'ia3', ...o }, 'ia3'),
  },
});
