/**
 * Every PEFT method the DSL knows, by name: a new method is its module here plus one line in
 * PEFT. The spec's union of method schemas, the `peft.*` builders and the spec-level checks are
 * read off this record; the compiler's registry (compiler/lower/peft/registry.ts) is typed by
 * its names, so tsc asks for the new method's lowering there.
 */
import { z } from 'zod';
import { adamix } from './adamix.ts';
import { adapter } from './adapter.ts';
import { bitfit } from './bitfit.ts';
import { compacter } from './compacter.ts';
import { dora } from './dora.ts';
import { full } from './full.ts';
import { ia3 } from './ia3.ts';
import { lora } from './lora.ts';
import { mixphm } from './mixphm.ts';

export const PEFT = { lora, adapter, compacter, mixphm, adamix, bitfit, full, ia3, dora };

type Entry = (typeof PEFT)[keyof typeof PEFT];
type Schema = Entry['schema'];
export const PeftSpec = z.discriminatedUnion(
  'method',
  Object.values(PEFT).map((m) => m.schema) as [Schema, ...Schema[]],
);
export type PeftSpec = z.infer<typeof PeftSpec>;
export type MethodName = PeftSpec['method'];
/** The spec of one method, by name. */
export type SpecOf<K extends MethodName> = Extract<PeftSpec, { method: K }>;

type Intersect<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
/** Every method's builders in one object (`peft.lora`, `peft.houlsby`, ...). */
export const peftBuilders = Object.assign({}, ...Object.values(PEFT).map((m) => m.builders)) as Intersect<
  Entry['builders']
>;

/** Whether an insertion mixes in the pooled visual feature (routing). */
export function needsVisual(spec: PeftSpec): boolean {
  const m = PEFT[spec.method] as { needsVisual?: (s: PeftSpec) => boolean };
  return m.needsVisual?.(spec) ?? false;
}
