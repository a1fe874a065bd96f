/**
 * Installs Dawn's WebGPU globals (GPUBufferUsage, GPUMapMode, ...) once. Every runtime module
 * that touches them at load time imports this first, so import order cannot break them.
 */
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);

export { create };
