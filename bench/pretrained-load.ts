/**
 * One import of a pretrained directory in a fresh process, for its time and peak RSS
 * (bench/pretrained.ts runs it). Modes:
 *   streamed   peftgraph's importer: header first, then tensor by tensor (planImport + loadImport)
 *   whole      the simple way, for comparison: read the whole file, copy each tensor out of it
 *              and change its layout as the importer does
 * Prints one JSON line: seconds, values, RSS before and peak RSS (bytes).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hf } from '../src/hf/towers.ts';
import { parseSpec } from '../src/dsl/spec.ts';
import { lowerModel } from '../src/compiler/lower/index.ts';
import { loadImport, planImport, transform } from '../src/hf/import.ts';
import { decodeSafetensors } from '../src/runtime/safetensors.ts';

const [mode, dir] = process.argv.slice(2);
const spec = parseSpec({ vision: hf.vision(dir), head: { kind: 'features' } });
const { graph } = lowerModel(spec, { batch: 1, mode: 'infer' });
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
let values = 0;
let keep: unknown;
if (mode === 'streamed') {
  const w = loadImport(planImport(spec, graph));
  for (const v of Object.values(w)) values += v.length;
  keep = w;
} else {
  const { tensors } = decodeSafetensors(dir, readFileSync(join(dir, 'model.safetensors')));
  const w: Record<string, Float32Array> = {};
  for (const e of planImport(spec, graph)[0].entries) {
    const t = tensors.get(e.stored)!;
    w[e.ours] = transform(e.t, t.shape, t.data);
    values += t.data.length;
  }
  keep = w;
}
const seconds = (performance.now() - t0) / 1000;
const peak = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ mode, seconds, values, rssBefore, peak, held: keep ? 1 : 0 }));
