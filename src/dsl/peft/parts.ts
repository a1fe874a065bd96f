/** Schema pieces PEFT methods share, and the shape of a method's DSL entry. */
import { z } from 'zod';

export const pos = z.number().int().positive().max(10_000_000);
/** Layer, head and expert counts. */
export const count = pos.max(1000);
/** Where a method attaches: one glob or a list (each entry must match a point). */
export const at = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
export const share = z.enum(['global', 'layer', 'module', 'none']);
export const dropoutRate = (def: number) =>
  z.number().min(0).lt(1, 'must be below 1 (dropout 1 drops everything and rescales by 1/0)').default(def);

/** Routing functions (Qu et al. 2024): how the bottleneck mixes in the pooled visual feature. */
export const Routing = z.enum(['none', 'add', 'mul', 'mulExpand', 'inner']);
export type Routing = z.infer<typeof Routing>;

/** PHM projections (Compacter, MixPHM). */
export const phmFields = {
  reduction: pos.optional(),
  bottleneck: pos.optional(),
  /** n: number of Kronecker summands; widths must divide by it. */
  kron: pos.default(4),
  /** k: rank of each W_i = T_i U_i. */
  rank: pos.default(8),
  /** Where the (n x n x n) S lives: one for the model by default. */
  shareS: share.default('global'),
};

/** A builder's input: the schema's input without its discriminator. */
export type In<T extends z.ZodType> = Omit<z.input<T>, 'method'>;

/**
 * A PEFT method as the DSL knows it: its option schema, its `peft.*` builders, and the spec-level
 * checks it needs. How it rewrites the model lives in the compiler (compiler/lower/peft/), whose
 * registry must give every method named here a lowering (tsc names the one missing).
 */
export interface PeftDsl<T extends z.ZodType<{ method: string }>, B> {
  schema: T;
  builders: B;
  /** Whether it needs the pooled visual feature (routing), for the spec's cross-field checks. */
  needsVisual?(spec: z.infer<T>): boolean;
}

/** Identity helper that fixes the schema's type for the builders and checks. */
export function definePeft<T extends z.ZodType<{ method: string }>, B>(d: PeftDsl<T, B>): PeftDsl<T, B> {
  return d;
}
