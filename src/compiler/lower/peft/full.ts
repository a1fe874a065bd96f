/** Full finetuning: every weight trains, whatever the freeze globs say. */
import type { FullSpec } from '../../../dsl/peft/full.ts';
import { defineMethod } from './method.ts';

export const fullMethod = defineMethod<FullSpec>({ attach: 'params', tag: null, unfreezes: () => true });
