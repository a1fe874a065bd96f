import { acquireDevice, type Gpu, NoAdapterError } from '../runtime/device.ts';

/** Limits the compiler plans against, in the order doctor prints them. */
const KEY_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxBindGroups',
];

export async function doctor(opts: {
  backend?: string;
  adapter?: string;
  allLimits?: boolean;
  json?: boolean;
  requireHardware?: boolean;
  verbose?: boolean;
}): Promise<number> {
  let gpu: Gpu;
  try {
    gpu = await acquireDevice({ backend: opts.backend, adapter: opts.adapter, dawnNotices: !!opts.verbose });
  } catch (e) {
    if (e instanceof NoAdapterError) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
  try {
    const { info, limits } = gpu;
    const shown = opts.allLimits ? Object.keys(limits).sort() : KEY_LIMITS;
    // A GPU runner whose driver lacks a Vulkan ICD falls back to lavapipe silently: say so, and fail.
    const software = () => {
      console.error(
        `peftgraph doctor: the adapter is a software rasterizer (${info.description || info.device}), not a GPU: check the GPU driver's Vulkan ICD (vulkaninfo --summary, /usr/share/vulkan/icd.d)`,
      );
      return 2;
    };
    if (opts.json) {
      console.log(
        JSON.stringify({ adapter: info, f16: gpu.hasF16, features: [...gpu.features].sort(), limits }, null, 2),
      );
      return opts.requireHardware && info.isSoftware ? software() : 0;
    }
    console.log(`adapter:     ${info.description || info.device}`);
    console.log(`vendor:      ${info.vendor}  architecture: ${info.architecture}  device: ${info.device}`);
    console.log(`backend:     ${info.backend}`);
    console.log(
      `software:    ${info.isSoftware ? 'yes (CPU rasterizer: expect slow kernels; barriers are costly)' : 'no'}`,
    );
    console.log(`shader-f16:  ${gpu.hasF16 ? 'yes (f16 storage available)' : 'no (f32 storage)'}`);
    console.log(`features:    ${[...gpu.features].sort().join(', ')}`);
    console.log('limits:');
    for (const k of shown) console.log(`  ${k.padEnd(36)} ${limits[k]}`);
    return opts.requireHardware && info.isSoftware ? software() : 0;
  } finally {
    gpu.destroy();
  }
}
