/** Full finetuning as an insertion: no options. */
import { z } from 'zod';
import { definePeft } from './parts.ts';

export const FullSpec = z.strictObject({ method: z.literal('full') });
export type FullSpec = z.infer<typeof FullSpec>;

export const full = definePeft({ schema: FullSpec, builders: { full: (): FullSpec => ({ method: 'full' }) } });
