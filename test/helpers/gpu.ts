/**
 * Shared device for a test file. A missing adapter fails the file (never skips): CI must run
 * these on lavapipe for real.
 */
import { afterAll, beforeAll } from 'vitest';
import { acquireDevice, type Gpu } from '../../src/runtime/device.ts';

export function useGpu(): () => Gpu {
  let gpu: Gpu | undefined;
  beforeAll(async () => {
    gpu = await acquireDevice();
  });
  afterAll(() => {
    if (gpu) {
      const errs = gpu.uncapturedErrors;
      gpu.destroy();
      if (errs.length) throw new Error(`uncaptured WebGPU errors:\n${errs.join('\n')}`);
    }
  });
  return () => {
    if (!gpu) throw new Error('GPU not acquired');
    return gpu;
  };
}
