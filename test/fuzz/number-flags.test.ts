/**
 * Number flags, fuzzed: 600 texts built from parts (sign, digits, point, exponent), some broken on
 * purpose, each read under a random rule. The builder knows, by how it built the text, whether it
 * is a decimal literal and whether a whole one; the expected value is parseFloat's. readNumber
 * (the CLI's and every bench script's check) must accept exactly those within the rule's bounds.
 */
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { type NumberRule, ints, readNumber } from '../../src/cli/flags.ts';
import { prng } from '../../src/runtime/init.ts';

const r = prng(Number(process.env.PEFTGRAPH_FUZZ_SEED ?? 20261208));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const digits = (n: number) => Array.from({ length: n }, () => String(Math.floor(r() * 10))).join('');

interface Built {
  text: string;
  /** A decimal literal (after trimming spaces). */
  decimal: boolean;
  /** Digits only, with at most a sign. */
  whole: boolean;
}

function build(): Built {
  const sign = pick(['', '', '+', '-']);
  const int = digits(pick([0, 1, 1, 2, 3, 20]));
  const point = r() < 0.4;
  const frac = point ? digits(pick([0, 1, 2])) : '';
  const exp = r() < 0.25 ? `${pick(['e', 'E'])}${pick(['', '+', '-'])}${digits(pick([1, 2, 3]))}` : '';
  const text = `${sign}${int}${point ? '.' : ''}${frac}${exp}`;
  const decimal = int.length > 0 || frac.length > 0;
  const built = { text, decimal, whole: decimal && !point && !exp };
  // Breakage, labelled by what it does to the text.
  switch (pick(['none', 'none', 'none', 'spaces', 'hex', 'letter', 'trailing-e', 'sign', 'empty', 'word', 'comma'])) {
    case 'spaces':
      return { ...built, text: ` ${text}\t` };
    case 'hex':
      return { text: `0x${digits(2)}`, decimal: false, whole: false };
    case 'letter':
      return { text: `${text}${pick(['a', 'x', '_', 'n'])}`, decimal: false, whole: false };
    case 'trailing-e':
      return { text: `${text}e`, decimal: false, whole: false };
    case 'sign':
      return {
        text: `${pick(['+', '-'])}${pick(['+', '-'])}${text.replace(/^[+-]/, '')}`,
        decimal: false,
        whole: false,
      };
    case 'empty':
      return { text: pick(['', ' ', '\t']), decimal: false, whole: false };
    case 'word':
      return { text: pick(['Infinity', '-Infinity', 'NaN', 'null', 'true']), decimal: false, whole: false };
    case 'comma':
      return { text: `${text},${digits(1)}`, decimal: false, whole: false };
    default:
      return built;
  }
}

function rule(): NumberRule {
  return {
    integer: r() < 0.5,
    min: pick([undefined, -5, 0, 1]),
    max: pick([undefined, 10, 1000]),
    open: r() < 0.3,
  };
}

describe('fuzz: number flags', () => {
  it('600 built texts under random rules: a number exactly when the text is one within the bounds', () => {
    let accepted = 0;
    for (let i = 0; i < 600; i++) {
      const b = build();
      const rl = rule();
      const got = readNumber(b.text, rl);
      const v = Number.parseFloat(b.text);
      const { min = -Infinity, max = Infinity } = rl;
      const want =
        b.decimal &&
        Number.isFinite(v) &&
        (!rl.integer || (b.whole && Number.isSafeInteger(v))) &&
        (rl.open ? v > min : v >= min) &&
        v <= max;
      const what = `${i}: ${JSON.stringify(b.text)} under ${JSON.stringify(rl)}`;
      expect(typeof got === 'number', what).toBe(want);
      if (typeof got === 'number') {
        accepted++;
        expect(got === v, `${what}: read ${got}, parseFloat ${v}`).toBe(true);
      } else expect(got.mustBe, what).toMatch(rl.integer ? /^an integer/ : /^a number/);
    }
    // Both ways happen often enough to mean something.
    expect(accepted).toBeGreaterThan(60);
    expect(accepted).toBeLessThan(540);
  });

  it('a list flag (--buckets) reads each part as int() reads one, naming the part it refuses', () => {
    const parse = (v: string) =>
      ints('--buckets <list>', 'batch sizes', 1).parseArg!(v, undefined as unknown) as unknown as number[];
    expect(parse('1, 4,16')).toEqual([1, 4, 16]);
    expect(parse('+2')).toEqual([2]);
    for (const [v, part] of [
      ['1,,4', ''],
      ['1,0x10', '0x10'],
      ['1,0', '0'],
      ['2.5', '2.5'],
      ['1e3', '1e3'],
      ['', ''],
    ]) {
      expect(() => parse(v), v).toThrow(InvalidArgumentError);
      expect(() => parse(v), v).toThrow(`'${part}' must be an integer >= 1`);
    }
  });
});
