/**
 * webgpu.ts in a browser: the WebGPU globals (GPUBufferUsage, GPUMapMode, ...) are the
 * browser's own, and there is no Dawn instance to create (browser.ts asks navigator.gpu).
 */
export function create(): never {
  throw new Error('peftgraph: Dawn is node-only; in a browser the runtime uses navigator.gpu (peftgraph/runtime)');
}
