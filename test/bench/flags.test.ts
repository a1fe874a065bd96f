import { describe, expect, it } from 'vitest';
import { numberFlag, trainingFlags } from '../../bench/vqa/flags.ts';

const good = { epochs: '20', lr: '3e-4', seed: '13', patience: '0' };

describe('bench/vqa number flags', () => {
  it('reads the gate scripts training flags', () => {
    expect(trainingFlags('gate', good)).toEqual({ epochs: 20, lr: 3e-4, seed: 13, patience: 0 });
  });

  it.each([
    ['lr', '3e', "gate: --lr '3e' is not a number above 0"],
    ['lr', '0', "gate: --lr '0' is not a number above 0"],
    ['lr', '', "gate: --lr '' is not a number above 0"],
    ['epochs', '2.5', "gate: --epochs '2.5' is not a whole number >= 1"],
    ['epochs', '0', "gate: --epochs '0' is not a whole number >= 1"],
    ['seed', 'x', "gate: --seed 'x' is not a whole number >= 0"],
    ['patience', '-1', "gate: --patience '-1' is not a whole number >= 0"],
    ['patience', 'Infinity', "gate: --patience 'Infinity' is not a whole number >= 0"],
  ])('refuses --%s %j by name', (flag, value, message) => {
    expect(() => trainingFlags('gate', { ...good, [flag]: value })).toThrow(message);
  });

  it('names a flag given no value', () => {
    expect(() => trainingFlags('gate', { ...good, lr: undefined })).toThrow('gate: --lr has no value');
  });

  it('accepts a number with spaces around it, and nothing else around it; counts in decimal digits only', () => {
    expect(numberFlag('s', 'n', ' 12 ', { integer: true })).toBe(12);
    expect(numberFlag('s', 'lr', '1.5e-2', { positive: true })).toBe(0.015);
    expect(() => numberFlag('s', 'n', '12abc')).toThrow("s: --n '12abc' is not a number");
    expect(() => numberFlag('s', 'seed', '0x10', { integer: true })).toThrow('is not a whole number');
    expect(() => numberFlag('s', 'seed', '1e20', { integer: true })).toThrow('is not a whole number');
  });
});
