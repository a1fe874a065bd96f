/** Full finetuning: every weight trains, whatever the freeze globs say. */
import { z } from 'zod';
import { defineMethod } from './method.ts';

export const FullSpec = z.strictObject({ method: z.literal('full') });
type FullSpec = z.infer<typeof FullSpec>;

export const fullMethod = defineMethod<FullSpec>({ schema: FullSpec, attach: 'params', tag: null, unfreezes: () => true });

export const fullBuilders = { full: (): FullSpec => ({ method: 'full' }) };
