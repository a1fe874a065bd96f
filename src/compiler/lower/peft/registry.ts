/**
 * Every PEFT method's lowering, by name. The record's type requires each method the DSL names
 * (dsl/peft/index.ts) to have a complete lowering here (method.ts): the hooks, trainability,
 * the parameter report and merging all read it.
 */
import type { MethodName, PeftSpec, SpecOf } from '../../../dsl/peft/index.ts';
import { adamixMethod } from './adamix.ts';
import { adapterMethod } from './adapter.ts';
import { bitfitMethod } from './bitfit.ts';
import { compacterMethod } from './compacter.ts';
import { doraMethod } from './dora.ts';
import { fullMethod } from './full.ts';
import { ia3 } from './ia3.ts';
import { lora } from './lora.ts';
import type { Attach, PeftMethod } from './method.ts';
import { mixphmMethod } from './mixphm.ts';

export const METHODS: { [K in MethodName]: PeftMethod<SpecOf<K>> } = {
  lora,
  adapter: adapterMethod,
  compacter: compacterMethod,
  mixphm: mixphmMethod,
  adamix: adamixMethod,
  bitfit: bitfitMethod,
  full: fullMethod,
  ia3,
  dora: doraMethod,
};

/** The method of an insertion, typed for its spec (the one place the union meets the record). */
export function methodFor<S extends PeftSpec>(spec: S): PeftMethod<S> {
  return METHODS[spec.method] as unknown as PeftMethod<S>;
}

/** Methods attaching at one kind of point. */
export function attachesAt(spec: PeftSpec, kind: Attach): boolean {
  return methodFor(spec).attach === kind;
}
