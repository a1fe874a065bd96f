/** Parameter report, like print_trainable_parameters: totals, per method and per layer. */
import { numel, type Graph, type ParamInfo } from './ir/graph.ts';

export interface ParamReport {
  total: number;
  trainable: number;
  percent: number;
  byMethod: Record<string, number>;
  byLayer: Record<string, number>;
}

const METHODS: [RegExp, string][] = [
  [/(^|\.)mixphm\./, 'mixphm'],
  [/(^|\.)compacter\./, 'compacter'],
  [/(^|\.)adamix\./, 'adamix'],
  [/\.adapter\./, 'adapter'],
  [/\.lora\./, 'lora'],
];

export function methodOf(name: string): string {
  for (const [re, m] of METHODS) if (re.test(name)) return m;
  return 'backbone';
}

export function layerOf(name: string): string {
  return /^(\w+\.layers\.\d+)/.exec(name)?.[1] ?? 'global';
}

export function paramReport(g: Graph): ParamReport {
  let total = 0;
  let trainable = 0;
  const byMethod: Record<string, number> = {};
  const byLayer: Record<string, number> = {};
  for (const [name, n] of g.params()) {
    const size = numel(n.shape);
    total += size;
    if (!(n.attrs.info as ParamInfo).trainable) continue;
    trainable += size;
    byMethod[methodOf(name)] = (byMethod[methodOf(name)] ?? 0) + size;
    byLayer[layerOf(name)] = (byLayer[layerOf(name)] ?? 0) + size;
  }
  return { total, trainable, percent: (100 * trainable) / total, byMethod, byLayer };
}

export function formatReport(r: ParamReport, title = 'parameters'): string {
  const fmt = (x: number) => x.toLocaleString('en-US');
  const lines = [`${title}: trainable ${fmt(r.trainable)} / total ${fmt(r.total)} (${r.percent.toFixed(4)}%)`];
  for (const [m, c] of Object.entries(r.byMethod)) lines.push(`  ${m.padEnd(12)} ${fmt(c)}`);
  return lines.join('\n');
}
