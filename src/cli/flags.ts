/**
 * Typed CLI flags: commander options whose values are checked as they are parsed, so a bad
 * value is a one-line error naming the flag and what it accepts (commander prints it and exits
 * 1), never a NaN or a silent fallback.
 */
import { InvalidArgumentError, Option } from 'commander';

/** What a number flag accepts: a whole number (`integer`), within [min, max] (`open`: min excluded). */
export interface NumberRule {
  integer?: boolean;
  min?: number;
  max?: number;
  open?: boolean;
}

/** Strictly above zero: a rate, a budget, a throughput. */
export const POSITIVE: NumberRule = Object.freeze({ min: 0, open: true });

/** A decimal literal: what a person types for a number. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * The one check of a number flag's text, for both parsers (commander here, node's parseArgs in
 * bench/flags.ts): its value, or what it must be. Number('') is 0 and Number('0x10') is 16, so
 * only a decimal literal is read; '1e20' is past exact integers, so a count is decimal digits only.
 */
export function readNumber(v: string, rule: NumberRule): number | { mustBe: string } {
  const { integer = false, min = -Infinity, max = Infinity, open = false } = rule;
  const t = v.trim();
  const n = Number(t);
  const ok =
    DECIMAL.test(t) &&
    Number.isFinite(n) &&
    (!integer || (/^[+-]?\d+$/.test(t) && Number.isSafeInteger(n))) &&
    (open ? n > min : n >= min) &&
    n <= max;
  if (ok) return n;
  // A max at or past the integers' exact range is no bound worth naming.
  const hasMax = max < (integer ? Number.MAX_SAFE_INTEGER : Infinity);
  const hasMin = min > -Infinity;
  const bound =
    integer && hasMin && hasMax
      ? ` in ${open ? '(' : '['}${min}, ${max}]`
      : [hasMin ? ` ${open ? '>' : '>='} ${min}` : '', hasMax ? ` <= ${max}` : ''].filter(Boolean).join(' and');
  return { mustBe: `${integer ? 'an integer' : 'a number'}${bound}` };
}

/** A commander option checked by readNumber. */
function numberOption(flags: string, what: string, def: number | undefined, rule: NumberRule): Option {
  const o = new Option(flags, what).argParser((v: string) => {
    const n = readNumber(v, rule);
    if (typeof n !== 'number') throw new InvalidArgumentError(`must be ${n.mustBe}`);
    return n;
  });
  return def === undefined ? o : o.default(def);
}

/** An integer option within [min, max]. */
export function int(
  flags: string,
  what: string,
  def: number | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): Option {
  return numberOption(flags, what, def, { integer: true, min, max });
}

/** A number option within [min, max] (`open`: the lower bound excluded). */
export function num(
  flags: string,
  what: string,
  def: number | undefined,
  min: number,
  max = Infinity,
  open = false,
): Option {
  return numberOption(flags, what, def, { min, max, open });
}

/** An option taking one of `choices`. */
export function oneOf(flags: string, what: string, choices: string[], def: string): Option {
  return new Option(flags, what).choices(choices).default(def);
}

/** A comma-separated list of integers, each >= min, each read by readNumber as int() reads one. */
export function ints(flags: string, what: string, min: number): Option {
  return new Option(flags, what).argParser((v: string) => {
    return v.split(',').map((x) => {
      const n = readNumber(x, { integer: true, min });
      if (typeof n !== 'number')
        throw new InvalidArgumentError(`'${x}' must be ${n.mustBe}: comma-separated integers (e.g. 1,4,16)`);
      return n;
    });
  });
}

/** --autotune, for the commands that plan matmul kernels (train, compile). */
export function autotuneOption(): Option {
  return new Option(
    '--autotune',
    "time the matmul kernels of this model's shapes on this adapter first (cached in .peftgraph-cache/autotune.json; later runs use the cache without the flag)",
  );
}

/** --no-tuned-kernels, beside --autotune. */
export function noTunedKernelsOption(): Option {
  return new Option('--no-tuned-kernels', "ignore the autotuner's cache: the adapter profile's default matmul kernels");
}

/** The autotuner mode --autotune and --no-tuned-kernels ask for (commander's --no-tuned-kernels sets tunedKernels false). */
export function tuningMode(o: { autotune?: boolean; tunedKernels?: boolean }): 'cache' | 'run' | 'off' {
  return o.tunedKernels === false ? 'off' : o.autotune ? 'run' : 'cache';
}

/** What train and compile print when the autotuner's cache chose matmul kernels. */
export function tuningLine(r: { classes: number; tuned: number }): string {
  return `matmul kernels: the autotuner's choices for ${r.classes} shape classes on this adapter${r.tuned ? ` (${r.tuned} timed now)` : ''}; --no-tuned-kernels for the defaults`;
}

/** --frozen-weights: how frozen params are kept on the device (PlanOptions.frozenWeights). */
export function frozenWeightsOption(): Option {
  return oneOf(
    '--frozen-weights <dtype>',
    'frozen weights on the device: f32, or 16 bits (bf16 on every adapter, f16 with shader-f16); kernels compute in f32',
    ['f32', 'bf16', 'f16'],
    'f32',
  );
}
