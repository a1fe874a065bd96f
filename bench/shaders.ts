/**
 * Shader census of `npm run example`: the kernels of its two plans (the training step at batch
 * 16 and the evaluation plan) and how many distinct WGSL sources they need. llvmpipe compiles
 * each distinct source on first use, so this count (and its bytes) is most of a cold start.
 * No GPU: the plans are compiled for lavapipe's profile (software, 8 bindings, no f16).
 *   npx tsx bench/shaders.ts
 */
import { compile } from '../src/compiler/compile.ts';
import { PORTABLE_PROFILE } from '../src/compiler/plan.ts';
import type { KernelSpec } from '../src/compiler/codegen/kernels.ts';
import model from '../examples/mnist-vqa.spec.ts';

const plans = {
  'train step': compile(model.spec, { batch: 16, mode: 'train', profile: PORTABLE_PROFILE }).plan,
  eval: compile(model.spec, { batch: 16, mode: 'infer', loss: true, profile: PORTABLE_PROFILE }).plan,
};

function census(kernels: KernelSpec[]) {
  const byKind = new Map<string, { kernels: number; shaders: Set<string> }>();
  const all = new Set<string>();
  for (const k of kernels) {
    let e = byKind.get(k.kind);
    if (!e) byKind.set(k.kind, (e = { kernels: 0, shaders: new Set() }));
    e.kernels++;
    e.shaders.add(k.wgsl);
    all.add(k.wgsl);
  }
  const bytes = [...all].reduce((s, w) => s + w.length, 0);
  return { byKind, distinct: all.size, bytes };
}

console.log('| plan | kind | kernels | distinct shaders |');
console.log('| --- | --- | --- | --- |');
for (const [name, plan] of Object.entries(plans)) {
  const c = census(plan.kernels);
  for (const [kind, e] of [...c.byKind].sort()) console.log(`| ${name} | ${kind} | ${e.kernels} | ${e.shaders.size} |`);
}
const both = census(Object.values(plans).flatMap((p) => p.kernels));
const kernels = Object.values(plans).reduce((s, p) => s + p.kernels.length, 0);
console.log(
  `\nboth plans: ${kernels} kernels, ${both.distinct} distinct shaders, ${(both.bytes / 1024).toFixed(0)} KiB of distinct WGSL`,
);
