/**
 * Expert selection for mixtures (MixPHM, AdaMix): experts' factors are stored stacked on a
 * leading expert axis. Training draws one expert uniformly per module and forward pass (the
 * same for the whole batch) and gathers its slice; inference uses the mean of the factors.
 */
import type { Tensor } from '../../builder.ts';
import type { Lowering } from '../context.ts';
import type { InitSpec } from '../../ir/graph.ts';

/** One expert's slice of each stacked factor ([E, ...] -> [...]), as training or inference wants. */
export function pickExpert(ctx: Lowering, factors: Record<string, Tensor>, experts: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  if (ctx.training) {
    const e = ctx.b.randint(ctx.seed!, [1], experts);
    for (const [k, t] of Object.entries(factors)) out[k] = ctx.b.gather(t, e).reshape(t.shape.slice(1));
  } else {
    // Merging factor by factor: mean(T), mean(U), mean(b); not mean(T U).
    for (const [k, t] of Object.entries(factors)) out[k] = t.mean([0]);
  }
  return out;
}

/**
 * The init of a stacked expert factor: every expert a copy of one draw. The published MixPHM
 * and AdaMix code deep-copies one expert E times; experts drawn apart would make the inference
 * merge (a mean of factors) a mean of unrelated matrices (measured in bench/vqa: merged dev
 * accuracy 0.10 where each expert alone scored 0.20-0.30).
 */
export function expertInit(lead: number[], init: InitSpec): InitSpec {
  return lead.length ? { kind: 'copies', copies: lead.reduce((a, b) => a * b, 1), each: init } : init;
}

/** Lead axes of stored expert factors: [E] when experts are kept, none in a merged graph. */
export function expertAxes(ctx: Lowering, experts: number): number[] {
  return ctx.opts.merged ? [] : [experts];
}

/** The factors a forward pass uses: one expert's (training), their mean (inference), or the merged ones as stored. */
export function selectExpert<T extends Record<string, Tensor>>(ctx: Lowering, factors: T, experts: number): T {
  return (ctx.opts.merged ? factors : pickExpert(ctx, factors, experts)) as T;
}
