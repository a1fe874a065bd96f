/// <reference lib="dom" />
/// <reference types="@webgpu/types" preserve="true" />
/**
 * `peftgraph/runtime` in a browser: the same Artifact and BundledModel as in node, over
 * navigator.gpu and fetch. The package's "browser" field points bundlers here, and swaps host.ts
 * and webgpu.ts for their .browser.ts siblings (src/web/bundle.ts does the same for the demo
 * page). An artifact is loaded from a URL: `loadModel(await acquireDevice(), '/model/')`.
 */
import { openDevice, type Gpu } from './open-device.ts';
import { UserError } from '../user-error.ts';

export { Artifact, ArtifactError, ARTIFACT_FORMAT, BUNDLE, type ArtifactJson, type Weights } from './artifact.ts';
export { NonFiniteError, type StepResult } from './step-runner.ts';
export type { HostArray } from './executor.ts';
export { BundledModel, loadModel, type Answer, type Task } from './bundled-model.ts';
export type { Caption } from './caption.ts';
export type { ArtifactSource } from './host-types.ts';
export { urlSource } from './host.browser.ts';
export type { Gpu } from './open-device.ts';

export class NoAdapterError extends UserError {
  constructor(detail: string) {
    super(
      `peftgraph: no WebGPU adapter in this browser (${detail}). WebGPU needs a secure context (https or http://localhost) and a browser that has it enabled (Chrome/Edge 113+, Safari 26+, Firefox 141+; headless Chromium: --enable-unsafe-webgpu).`,
    );
    this.name = 'NoAdapterError';
  }
}

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Request shader-f16 when the adapter has it (default true). */
  f16?: boolean;
}

/** The page's WebGPU device, with the adapter's full limits (as node's acquireDevice). */
export async function acquireDevice(o: DeviceOptions = {}): Promise<Gpu> {
  const gpu = globalThis.navigator?.gpu;
  if (!gpu) throw new NoAdapterError('navigator.gpu is undefined');
  const adapter = await gpu.requestAdapter({ powerPreference: o.powerPreference ?? 'high-performance' });
  if (!adapter) throw new NoAdapterError('requestAdapter() returned null');
  return openDevice(adapter, { f16: o.f16, backend: 'browser' });
}

/** Runs `fn` with a fresh device and always destroys it. */
export async function withDevice<T>(fn: (gpu: Gpu) => Promise<T>, o?: DeviceOptions): Promise<T> {
  const gpu = await acquireDevice(o);
  try {
    return await fn(gpu);
  } finally {
    gpu.destroy();
  }
}
