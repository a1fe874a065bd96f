/**
 * Every PEFT method, by name. The record's type requires each name of the spec union to have a
 * complete method (method.ts), and the DSL's `peft.*` builders, the spec's union of method
 * schemas, the hooks, trainability, the parameter report and merging all read it: a new method
 * is its module plus one line here.
 */
import { z } from 'zod';
import { lora, loraBuilders, LoraSpec } from './lora.ts';
import { adapterBuilders, adapterMethod, AdapterSpec } from './adapter.ts';
import { compacterBuilders, compacterMethod, CompacterSpec } from './compacter.ts';
import { mixphmBuilders, mixphmMethod, MixPhmSpec } from './mixphm.ts';
import { adamixBuilders, adamixMethod, AdaMixSpec } from './adamix.ts';
import { bitfitBuilders, bitfitMethod, BitFitSpec } from './bitfit.ts';
import { fullBuilders, fullMethod, FullSpec } from './full.ts';
import { ia3, ia3Builders, Ia3Spec } from './ia3.ts';
import type { Attach, PeftMethod } from './method.ts';

export const PeftSpec = z.discriminatedUnion('method', [LoraSpec, AdapterSpec, CompacterSpec, MixPhmSpec, AdaMixSpec, BitFitSpec, FullSpec, Ia3Spec]);
export type PeftSpec = z.infer<typeof PeftSpec>;
export type MethodName = PeftSpec['method'];

export const METHODS: { [K in MethodName]: PeftMethod<Extract<PeftSpec, { method: K }>> } = {
  lora,
  adapter: adapterMethod,
  compacter: compacterMethod,
  mixphm: mixphmMethod,
  adamix: adamixMethod,
  bitfit: bitfitMethod,
  full: fullMethod,
  ia3,
};

/** The method of an insertion, typed for its spec (the one place the union meets the record). */
export function methodFor<S extends PeftSpec>(spec: S): PeftMethod<S> {
  return METHODS[spec.method] as unknown as PeftMethod<S>;
}

/** Methods attaching at one kind of point. */
export function attachesAt(spec: PeftSpec, kind: Attach): boolean {
  return methodFor(spec).attach === kind;
}

export const peftBuilders = { ...loraBuilders, ...adapterBuilders, ...compacterBuilders, ...mixphmBuilders, ...adamixBuilders, ...bitfitBuilders, ...fullBuilders, ...ia3Builders };
