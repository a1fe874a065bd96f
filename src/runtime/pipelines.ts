/**
 * Compute pipelines cached by WGSL source + entry point. Compilation goes through
 * createComputePipelineAsync so a bad shader rejects with the compiler's messages and the
 * kernel's name, instead of surfacing later as an uncaptured validation error.
 */
import type { Gpu } from './device.ts';
import { gpuWait } from './gpu-wait.ts';

export class ShaderCompileError extends Error {
  constructor(kernel: string, messages: string, source: string) {
    const numbered = source
      .split('\n')
      .map((l, i) => `${String(i + 1).padStart(4)}| ${l}`)
      .join('\n');
    super(`WGSL for kernel '${kernel}' failed to compile:\n${messages}\n--- source ---\n${numbered}`);
    this.name = 'ShaderCompileError';
  }
}

const perDevice = new WeakMap<Gpu, PipelineCache>();

export class PipelineCache {
  /** The device's shared cache: plans compiled on one device reuse each other's pipelines. */
  static for(gpu: Gpu): PipelineCache {
    let c = perDevice.get(gpu);
    if (!c) perDevice.set(gpu, (c = new PipelineCache(gpu)));
    return c;
  }

  private readonly cache = new Map<string, Promise<GPUComputePipeline>>();
  hits = 0;
  misses = 0;

  constructor(private readonly gpu: Gpu) {}

  get size(): number {
    return this.cache.size;
  }

  get(name: string, code: string, entryPoint = 'main'): Promise<GPUComputePipeline> {
    const key = `${entryPoint}\u0000${code}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const p = this.compile(name, code, entryPoint);
    this.cache.set(key, p);
    p.catch(() => this.cache.delete(key));
    return p;
  }

  private async compile(name: string, code: string, entryPoint: string): Promise<GPUComputePipeline> {
    const { device } = this.gpu;
    // The scope keeps a bad shader from also landing in the device's uncaptured-error log.
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code, label: name });
    const info = await gpuWait(() => module.getCompilationInfo());
    await gpuWait(() => device.popErrorScope());
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      throw new ShaderCompileError(
        name,
        errors.map((m) => `  line ${m.lineNum}:${m.linePos} ${m.message}`).join('\n'),
        code,
      );
    }
    try {
      return await gpuWait(() =>
        device.createComputePipelineAsync({ label: name, layout: 'auto', compute: { module, entryPoint } }),
      );
    } catch (e) {
      throw new ShaderCompileError(name, `  ${(e as Error).message}`, code);
    }
  }
}
