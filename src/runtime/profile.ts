/** The device facts the compiler plans against, read off a live device. */
import type { DeviceProfile } from '../compiler/plan.ts';
import type { Gpu } from './device.ts';

/**
 * Kernels bind at most 8 storage buffers (the portable default), fewer if the device says so. Only
 * the limits are read: an adapter recorded elsewhere (a browser's, test/web) plans the same way.
 */
export function profileOf(
  gpu: Pick<Gpu, 'limits' | 'hasF16'> & { info: Pick<Gpu['info'], 'isSoftware'> },
  opts: { maxBindings?: number } = {},
): DeviceProfile {
  const l = gpu.limits;
  return {
    maxStorageBuffersPerShaderStage: Math.min(opts.maxBindings ?? 8, l.maxStorageBuffersPerShaderStage),
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    isSoftware: gpu.info.isSoftware,
    f16: gpu.hasF16,
  };
}
