/**
 * What each distinct shader of `npm run example` costs on its first use: every distinct WGSL
 * source of the two plans (training step and evaluation, batch 16) is made a pipeline and
 * dispatched once, then again; llvmpipe compiles a shader at its first dispatch, so the first
 * dispatch minus the second is its compile time. Run with an empty Mesa cache:
 *   rm -rf /tmp/mesa-cold && MESA_SHADER_CACHE_DIR=/tmp/mesa-cold npx tsx bench/shader-compile.ts
 */
import { compile } from '../src/compiler/compile.ts';
import { acquireDevice } from '../src/runtime/device.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { timeRecorded } from '../src/runtime/timing.ts';
import model from '../examples/mnist-vqa.spec.ts';

const gpu = await acquireDevice();
const { device } = gpu;
const profile = profileOf(gpu);
const plans = [
  compile(model.spec, { batch: 16, mode: 'train', profile }).plan,
  compile(model.spec, { batch: 16, mode: 'infer', loss: true, profile }).plan,
];
const shaders = new Map<string, { kind: string; name: string }>();
for (const p of plans)
  for (const k of p.kernels) if (!shaders.has(k.wgsl)) shaders.set(k.wgsl, { kind: k.kind, name: k.name });

/** One dispatch of one workgroup over zeroed buffers (sizes 0: the shader returns at once). */
const dispatch = (pipe: GPUComputePipeline, bg: GPUBindGroup) => timeRecorded(gpu, (s) => s.dispatch(pipe, bg, 1));

const rows: { kind: string; name: string; lines: number; create: number; first: number; second: number }[] = [];
const t0 = performance.now();
for (const [code, info] of shaders) {
  const t = performance.now();
  const pipe = await device.createComputePipelineAsync({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
  });
  const create = performance.now() - t;
  const bindings = [...code.matchAll(/@binding\((\d+)\) var<(uniform|storage)/g)];
  const entries = bindings.map(([, b, space]) => ({
    binding: Number(b),
    resource: {
      buffer: device.createBuffer({
        size: 4096,
        usage: space === 'uniform' ? GPUBufferUsage.UNIFORM : GPUBufferUsage.STORAGE,
      }),
    },
  }));
  const bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
  const first = await dispatch(pipe, bg);
  const second = await dispatch(pipe, bg);
  rows.push({ ...info, lines: code.split('\n').length, create, first, second });
}
const s = (f: (r: (typeof rows)[number]) => number, rs = rows) => (rs.reduce((a, r) => a + f(r), 0) / 1000).toFixed(2);
console.log(
  `adapter: ${gpu.info.description}; ${rows.length} distinct shaders in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
console.log('| kind | shaders | lines | create, s | first dispatch, s | second dispatch, s |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const kind of [...new Set(rows.map((r) => r.kind))].sort()) {
  const rs = rows.filter((r) => r.kind === kind);
  console.log(
    `| ${kind} | ${rs.length} | ${rs.reduce((a, r) => a + r.lines, 0)} | ${s((r) => r.create, rs)} | ${s((r) => r.first, rs)} | ${s((r) => r.second, rs)} |`,
  );
}
console.log(
  `| all | ${rows.length} | ${rows.reduce((a, r) => a + r.lines, 0)} | ${s((r) => r.create)} | ${s((r) => r.first)} | ${s((r) => r.second)} |`,
);
console.log('\nslowest first uses:');
for (const r of rows.sort((a, b) => b.first - a.first).slice(0, 8))
  console.log(`  ${r.name} (${r.lines} lines): ${r.first.toFixed(0)} ms`);
process.exit(0);
