/**
 * What a PEFT method is to the compiler: where it attaches, how it rewrites the model there,
 * which params it tags and makes trainable, and how inference merging folds it. (Its options
 * and builders are the DSL's: dsl/peft/.) Each method is one module defining one of these;
 * registry.ts gathers them in a record keyed by method name, so a method that lacks a required
 * part fails to type-check, and the hooks dispatch through the record: there is no switch to
 * forget a method in.
 */
import type { Tensor } from '../../builder.ts';
import type { Lowering } from '../context.ts';

/** linear: wraps linear layers; sublayer: rewrites sublayer outputs; params: only changes which params train. */
export type Attach = 'linear' | 'sublayer' | 'params';

export interface LinearSite {
  /** The linear's path, e.g. `text.layers.0.attn.q`. */
  path: string;
  din: number;
  dout: number;
  /** The layer's weight [din, dout] and bias [dout] (null: a bias-free layer, as T5's). */
  W: Tensor;
  b: Tensor | null;
}

export type TrainedWeights = Record<string, ArrayLike<number>>;

interface Common<S> {
  /** Matches the names of the params it adds (the parameter report's group), or null when it adds none. */
  tag: RegExp | null;
  /**
   * Inference merging. The contract: when `folds(spec)` holds, the merged graph (lowerModel with
   * merged: true) leaves the insertion out at every point it covers, and `fold` adds its whole
   * effect to the merged backbone weights `out` (float64, the merged graph's params), reading its
   * own params from `trained`, so that the merged model computes what the unmerged one does.
   * Folds run in insertion order, each on what the earlier ones left. A method without `merge`
   * (or whose `folds` is false) stays a module of the merged graph; stacked experts are averaged
   * for it (merge.ts). Each method's merge test compares merged and unmerged logits.
   */
  merge?: { folds(spec: S): boolean; fold(spec: S, trained: TrainedWeights, out: Record<string, Float64Array>): void };
}

/** What each kind of attachment must provide: tsc refuses a sublayer method without its rewrite. */
export type PeftMethod<S extends { method: string }> = Common<S> &
  (
    | {
        attach: 'linear';
        /** Rewrites the input x before the weight (x -> x'), after the input hooks of earlier insertions. */
        input?(ctx: Lowering, spec: S, site: LinearSite, x: Tensor): Tensor;
        /** Rewrites the output y = x' W + b, given x' (the input after every input hook), after the output hooks of earlier insertions. */
        output?(ctx: Lowering, spec: S, site: LinearSite, x: Tensor, y: Tensor): Tensor;
      }
    | {
        attach: 'sublayer';
        /** Rewrites the sublayer output x (before its residual add) of `stack`. */
        sublayer(ctx: Lowering, spec: S, path: string, x: Tensor, stack: string): Tensor;
      }
    | {
        attach: 'params';
        /** Whether it makes backbone param `name` trainable (BitFit's biases, full finetuning's all). */
        unfreezes(spec: S, name: string): boolean;
      }
  );

/** Identity helper that fixes `S` from the schema, so each module's hooks see their own spec type. */
export function defineMethod<S extends { method: string }>(m: PeftMethod<S>): PeftMethod<S> {
  return m;
}
