/**
 * What the values of a model's inputs must be, as data: token ids are integers inside the
 * vocabulary, masks are 0/1 and keep a token per row, pixels are finite and of pixel size, soft
 * targets lie in [0, 1]. The GPU would otherwise clamp, drop or zero-fill what the CPU reference
 * rejects, and answer silently. `train` checks datasets with these rules (train/validate.ts) and an
 * inference artifact carries them in plan.json and checks every request (runtime/artifact.ts):
 * one definition for both.
 */
import { z } from 'zod';

export const InputRule = z.discriminatedUnion('kind', [
  /** Integers in [0, below); `what` says where the bound comes from. */
  z.object({ kind: z.literal('ids'), below: z.number().int().min(0), what: z.string() }),
  /**
   * 0 or 1, and each row (the last axis) keeps at least one 1, unless `empty`: a decoder's text
   * after a visual prefix, which every position attends (greedy captioning starts from no text).
   */
  z.object({ kind: z.literal('mask'), empty: z.boolean().optional() }),
  /** Finite, |x| <= 1e6 (normalized values or 0..255). */
  z.object({ kind: z.literal('pixel') }),
  /** In [0, 1]. */
  z.object({ kind: z.literal('unit') }),
  z.object({ kind: z.literal('finite') }),
]);
export type InputRule = z.infer<typeof InputRule>;

/** Why `v` breaks `rule`, or null. */
export function valueProblem(rule: InputRule, v: number): string | null {
  switch (rule.kind) {
    case 'ids':
      return Number.isInteger(v) && v >= 0 && v < rule.below
        ? null
        : `${v} is not an integer id in [0, ${rule.below}) (${rule.what})`;
    case 'mask':
      return v === 0 || v === 1 ? null : `${v} is not 0 or 1`;
    case 'pixel':
      // 1e30 would overflow the first matmul in float32.
      return !Number.isFinite(v)
        ? `${v} is not finite`
        : Math.abs(v) > 1e6
          ? `${v} is no pixel value (|x| > 1e6; normalize the images)`
          : null;
    case 'unit':
      return v >= 0 && v <= 1 ? null : `${v} is outside [0, 1]`;
    case 'finite':
      return Number.isFinite(v) ? null : `${v} is not finite`;
  }
}

/**
 * The first problem of `values` (rows of `per` values each) under `rule`, as `[index] = why` or
 * `row r keeps no token (all zero)`, or null.
 */
export function valuesProblem(rule: InputRule, values: ArrayLike<number>, per: number): string | null {
  for (let j = 0; j < values.length; j++) {
    const bad = valueProblem(rule, Number(values[j]));
    if (bad) return `[${j}] = ${bad}`;
  }
  if (rule.kind === 'mask' && !rule.empty && per > 0)
    for (let r = 0; r * per < values.length; r++) {
      let keeps = false;
      for (let j = r * per; j < (r + 1) * per && !keeps; j++) keeps = values[j] === 1;
      if (!keeps) return `row ${r} keeps no token (all zero)`;
    }
  return null;
}

/** Inputs the runtime feeds itself (seeds, optimizer scalars and state), never a caller's data. */
export const RUNTIME_INPUT = /^(seed|opt\.|state\.|m:|v:)/;

/** The rule of a model input by its name: `vocab` and `answers` bound the id inputs. */
export function ruleFor(name: string, vocab: number, answers: number): InputRule {
  const text = { kind: 'ids' as const, below: vocab, what: `the text vocabulary has ${vocab} rows` };
  switch (name) {
    case 'image':
      return { kind: 'pixel' };
    case 'tokens':
    case 'targetTokens':
    case 'targetLabels':
      return text;
    case 'labels':
      return { kind: 'ids', below: answers, what: `the head has ${answers} answers` };
    case 'mask':
    case 'targetMask':
      return { kind: 'mask' };
    case 'targets':
      return { kind: 'unit' };
    default:
      return { kind: 'finite' };
  }
}
