/**
 * Number-valued flags of the bench scripts (node:util parseArgs gives strings). A value that
 * is not a number, or not a whole one where a count is meant, is refused by the script's and the
 * flag's name: Number('3e') is NaN, and a NaN rate or epoch count would otherwise train nothing
 * (or forever) without a word. The check itself is the CLI's (src/cli/flags.ts readNumber).
 */
import { type NumberRule, POSITIVE, readNumber } from '../src/cli/flags.ts';

export { POSITIVE, type NumberRule };

export function numberFlag(script: string, flag: string, value: string, rule: NumberRule = {}): number {
  const n = readNumber(value, rule);
  if (typeof n !== 'number') throw new Error(`${script}: --${flag} '${value}' must be ${n.mustBe}`);
  return n;
}

/** A comma-separated list, each value read as numberFlag reads one ('13,' is refused, not read as 13 and 0). */
export function numberList(script: string, flag: string, value: string, rule: NumberRule = {}): number[] {
  return value.split(',').map((x) => numberFlag(script, flag, x, rule));
}

/** Whole numbers of at least 1: sizes, counts, steps. */
export const COUNT: NumberRule = Object.freeze({ integer: true, min: 1 });

/** The training flags the gate scripts share (near-check, routing-check, caption-check). */
export function trainingFlags(
  script: string,
  values: { epochs?: string; lr?: string; seed?: string; patience?: string },
): { epochs: number; lr: number; seed: number; patience: number } {
  const get = (flag: keyof typeof values): string => {
    const v = values[flag];
    if (v === undefined) throw new Error(`${script}: --${flag} has no value`);
    return v;
  };
  return {
    epochs: numberFlag(script, 'epochs', get('epochs'), { integer: true, min: 1 }),
    lr: numberFlag(script, 'lr', get('lr'), POSITIVE),
    seed: numberFlag(script, 'seed', get('seed'), { integer: true, min: 0 }),
    patience: numberFlag(script, 'patience', get('patience'), { integer: true, min: 0 }),
  };
}
