/**
 * HF PEFT's `target_modules` in peftgraph's terms: peft matches module names by suffix
 * (`query` is every `*.query`), peftgraph names insertion points. The map is read off the import
 * tables (hf-names.ts), the one place that pairs HF's modules with our params, so a LoraConfig's
 * `target_modules: ['query', 'value']` is answered with the `at` that means the same.
 */
import { TABLES } from './hf-names.ts';

/** HF module path (layer index as `{i}`) -> our linear point (`{i}` as `*`), for every family's linears. */
function linears(): [string, string][] {
  const out: [string, string][] = [];
  for (const table of Object.values(TABLES))
    for (const r of table.rules) {
      const m = /^(.*)\.weight$/.exec(r.hf);
      const ours = /^(.*\.layers\.\{i\}\..*)\.W$/.exec(r.ours);
      if (m && ours) out.push([m[1], ours[1].replace('{i}', '*')]);
    }
  return out;
}

/** `a.b.{x,y}` for points that differ only in their last part. */
function braced(points: string[]): string[] {
  const groups = new Map<string, string[]>();
  for (const p of [...new Set(points)].sort()) {
    const at = p.lastIndexOf('.');
    const list = groups.get(p.slice(0, at)) ?? [];
    list.push(p.slice(at + 1));
    groups.set(p.slice(0, at), list);
  }
  return [...groups].map(([head, tails]) =>
    tails.length > 1 ? `${head}.{${tails.join(',')}}` : `${head}.${tails[0]}`,
  );
}

/** The points `target_modules` would reach in the families peftgraph imports, and the names that reach none. */
export function pointsOfTargets(targets: unknown): { points: string[]; unmatched: string[] } | null {
  const names =
    typeof targets === 'string'
      ? [targets]
      : Array.isArray(targets) && targets.every((t) => typeof t === 'string')
        ? (targets as string[])
        : null;
  if (!names) return null;
  const all = linears();
  const points: string[] = [];
  const unmatched: string[] = [];
  for (const t of names) {
    const hit = all.filter(([hf]) => hf === t || hf.endsWith(`.${t}`)).map(([, ours]) => ours);
    if (hit.length) points.push(...hit);
    else unmatched.push(t);
  }
  return { points: braced(points), unmatched };
}
