/**
 * Headless WebGPU through Dawn (the `webgpu` npm package).
 *
 * Backend and adapter are chosen by option or by the PEFTGRAPH_BACKEND / PEFTGRAPH_ADAPTER
 * environment variables (Dawn's own `backend=` and `adapter=` flags). The device is requested
 * with the adapter's full limits, since the compiler plans buffers and bindings against them,
 * and with shader-f16 where the adapter has it.
 */
import { withoutNativeNotices } from './native-stderr.ts';
import { UserError } from '../user-error.ts';
import { create } from './webgpu.ts';
import { openDevice, type Gpu } from './open-device.ts';

export type { AdapterSummary, Gpu } from './open-device.ts';

export interface DeviceOptions {
  /** Dawn backend: vulkan, null, opengl, ... (env PEFTGRAPH_BACKEND). */
  backend?: string;
  /** Adapter name substring, as Dawn matches it (env PEFTGRAPH_ADAPTER). */
  adapter?: string;
  powerPreference?: GPUPowerPreference;
  /** Request shader-f16 when the adapter has it (default true). */
  f16?: boolean;
  /**
   * Let Dawn's native adapter-limit notices through to stderr (default false: hidden, see
   * native-stderr.ts; env PEFTGRAPH_DAWN_NOTICES=1 does the same).
   */
  dawnNotices?: boolean;
}

export class NoAdapterError extends UserError {
  constructor(detail: string) {
    super(
      `peftgraph: no WebGPU adapter found (${detail}).\n` +
        `  On Linux without a GPU, install Mesa's lavapipe (software Vulkan) and the Vulkan loader:\n` +
        `    bash scripts/setup        # as root: adds bookworm-backports, installs mesa-vulkan-drivers libvulkan1, npm ci\n` +
        `  Then check with: npx peftgraph doctor\n` +
        `  Choose another backend/adapter with PEFTGRAPH_BACKEND=vulkan|null|... and PEFTGRAPH_ADAPTER=<name substring>.`,
    );
    this.name = 'NoAdapterError';
  }
}

/**
 * One Dawn instance per flag set, held for the life of the process. Dawn's node binding polls
 * through a JS callback that calls into the instance; when the instance was dropped after
 * device.destroy(), the garbage collector could free it while that callback was still queued,
 * and the callback then locked a freed mutex: a crash or a hang as the process wound down
 * (9 of 40, in another batch 4 of 50, `peftgraph doctor` runs here). An instance with no live
 * device keeps nothing queued, so holding it does not keep node from exiting.
 */
const instances = new Map<string, GPU>();

function dawnInstance(flags: string[]): GPU {
  const key = flags.join(' ');
  let gpu = instances.get(key);
  if (!gpu) {
    gpu = create(flags);
    instances.set(key, gpu);
  }
  return gpu;
}

export async function acquireDevice(opts: DeviceOptions = {}): Promise<Gpu> {
  const backend = opts.backend ?? process.env.PEFTGRAPH_BACKEND;
  const adapterName = opts.adapter ?? process.env.PEFTGRAPH_ADAPTER;
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const flags: string[] = [];
  if (backend) flags.push(`backend=${backend}`);
  if (adapterName) flags.push(`adapter=${adapterName}`);

  let adapter: GPUAdapter | null;
  try {
    const gpu = dawnInstance(flags);
    const request = () => gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    const notices = opts.dawnNotices ?? process.env.PEFTGRAPH_DAWN_NOTICES === '1';
    adapter = await (notices ? request() : withoutNativeNotices(request));
  } catch (e) {
    throw new NoAdapterError(`Dawn: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!adapter) {
    throw new NoAdapterError(flags.length ? `flags: ${flags.join(' ')}` : 'Dawn found no Vulkan device');
  }

  return openDevice(adapter, { f16: opts.f16, backend: backend ?? 'default (vulkan on Linux)' });
}

/** Runs `fn` with a fresh device and always destroys it, so scripts exit cleanly. */
export async function withDevice<T>(fn: (gpu: Gpu) => Promise<T>, opts?: DeviceOptions): Promise<T> {
  const gpu = await acquireDevice(opts);
  try {
    return await fn(gpu);
  } finally {
    gpu.destroy();
  }
}
