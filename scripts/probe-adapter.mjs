// Prints the adapter Dawn finds (exit 0) or exits 1 when there is none.
// Plain JS so scripts/setup can call it before anything else is built.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error('no WebGPU adapter');
  process.exit(1);
}
const i = adapter.info;
console.log(`${i.vendor} ${i.architecture} ${i.device} ${i.description}`.replace(/\s+/g, ' ').trim());
process.exit(0);
