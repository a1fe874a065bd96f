/** Parameter report, like print_trainable_parameters: totals, per method and per layer. */
import { numel, type Graph } from './ir/graph.ts';
import { METHODS } from './lower/peft/registry.ts';
import { paramInfo } from './ir/attrs.ts';

export interface ParamReport {
  total: number;
  trainable: number;
  percent: number;
  /** Trainable values per group (backbone, head, or a PEFT method). */
  byMethod: Record<string, number>;
  byLayer: Record<string, number>;
  /** Every value per group, trainable or not: backbone vs head vs each PEFT method. */
  byGroup: Record<string, { total: number; trainable: number }>;
}

/** A param's group: the PEFT method that added it (by the method's tag), the task head, or the backbone. */
export function methodOf(name: string): string {
  const hits = Object.entries(METHODS).filter(([, method]) => method.tag?.test(name));
  // Two methods claiming one param would make the report (and the adapter card) depend on the registry's order.
  if (hits.length > 1)
    throw new Error(
      `param '${name}' matches the tags of ${hits.map(([m]) => m).join(' and ')}: each method's tag must match its own params only`,
    );
  if (hits.length) return hits[0][0];
  return name.startsWith('head.') ? 'head' : 'backbone';
}

export function layerOf(name: string): string {
  return /^(\w+\.layers\.\d+)/.exec(name)?.[1] ?? 'global';
}

export function paramReport(g: Graph): ParamReport {
  let total = 0;
  let trainable = 0;
  const byMethod: Record<string, number> = {};
  const byLayer: Record<string, number> = {};
  const byGroup: ParamReport['byGroup'] = {};
  for (const [name, n] of g.params()) {
    const size = numel(n.shape);
    total += size;
    const group = (byGroup[methodOf(name)] ??= { total: 0, trainable: 0 });
    group.total += size;
    if (!paramInfo(n).trainable) continue;
    group.trainable += size;
    trainable += size;
    byMethod[methodOf(name)] = (byMethod[methodOf(name)] ?? 0) + size;
    byLayer[layerOf(name)] = (byLayer[layerOf(name)] ?? 0) + size;
  }
  return { total, trainable, percent: (100 * trainable) / total, byMethod, byLayer, byGroup };
}

export function formatReport(r: ParamReport, title = 'parameters'): string {
  const fmt = (x: number) => x.toLocaleString('en-US');
  const lines = [`${title}: trainable ${fmt(r.trainable)} / total ${fmt(r.total)} (${r.percent.toFixed(4)}%)`];
  const order = (m: string) => (m === 'backbone' ? 0 : m === 'head' ? 1 : 2);
  const groups = Object.entries(r.byGroup).sort(([a], [b]) => order(a) - order(b));
  const width = Math.max(...groups.map(([, c]) => fmt(c.total).length));
  for (const [m, c] of groups)
    lines.push(`  ${m.padEnd(12)} ${fmt(c.total).padStart(width)}  trainable ${fmt(c.trainable)}`);
  return lines.join('\n');
}
