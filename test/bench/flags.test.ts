import { describe, expect, it } from 'vitest';
import { COUNT, POSITIVE, numberFlag, numberList, trainingFlags } from '../../bench/flags.ts';

const good = { epochs: '20', lr: '3e-4', seed: '13', patience: '0' };

describe('bench/vqa number flags', () => {
  it('reads the gate scripts training flags', () => {
    expect(trainingFlags('gate', good)).toEqual({ epochs: 20, lr: 3e-4, seed: 13, patience: 0 });
  });

  it.each([
    ['lr', '3e', "gate: --lr '3e' must be a number > 0"],
    ['lr', '0', "gate: --lr '0' must be a number > 0"],
    ['lr', '', "gate: --lr '' must be a number > 0"],
    ['epochs', '2.5', "gate: --epochs '2.5' must be an integer >= 1"],
    ['epochs', '0', "gate: --epochs '0' must be an integer >= 1"],
    ['seed', 'x', "gate: --seed 'x' must be an integer >= 0"],
    ['patience', '-1', "gate: --patience '-1' must be an integer >= 0"],
    ['patience', 'Infinity', "gate: --patience 'Infinity' must be an integer >= 0"],
  ])('refuses --%s %j by name', (flag, value, message) => {
    expect(() => trainingFlags('gate', { ...good, [flag]: value })).toThrow(message);
  });

  it('names a flag given no value', () => {
    expect(() => trainingFlags('gate', { ...good, lr: undefined })).toThrow('gate: --lr has no value');
  });

  it('accepts a number with spaces around it, and nothing else around it; counts in decimal digits only', () => {
    expect(numberFlag('s', 'n', ' 12 ', { integer: true })).toBe(12);
    expect(numberFlag('s', 'lr', '1.5e-2', POSITIVE)).toBe(0.015);
    expect(() => numberFlag('s', 'n', '12abc')).toThrow("s: --n '12abc' must be a number");
    expect(() => numberFlag('s', 'seed', '0x10', { integer: true })).toThrow('must be an integer');
    expect(() => numberFlag('s', 'seed', '1e20', { integer: true })).toThrow('must be an integer');
  });

  it("reads a list value by value: '13,' and '1,0x10' are refused, not read as 13 and 0 or 16", () => {
    expect(numberList('bench vqa', 'k', '16, 64', COUNT)).toEqual([16, 64]);
    expect(() => numberList('bench vqa', 'seeds', '13,', { integer: true, min: 0 })).toThrow(
      "bench vqa: --seeds '' must be an integer >= 0",
    );
    expect(() => numberList('bench vqa', 'k', '1,0x10', COUNT)).toThrow(
      "bench vqa: --k '0x10' must be an integer >= 1",
    );
    expect(() => numberList('tune', 'lrs', '1e-3,0', POSITIVE)).toThrow("tune: --lrs '0' must be a number > 0");
  });
});
