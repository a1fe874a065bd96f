/** A readable listing of a graph: one line per node, grouped by layer scope. */
import { shapeStr, type Graph, type Node } from './graph.ts';
import { attrsOf, leafName, paramInfo } from './attrs.ts';

function attrStr(n: Node): string {
  const skip = new Set(['shape', 'dtype', 'name', 'info', 'value']);
  const parts = Object.entries(n.attrs)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`);
  if (n.op === 'const') {
    const v = attrsOf(n, 'const').value;
    parts.push(v.length <= 4 ? `value=[${v.map((x) => +x.toPrecision(4)).join(',')}]` : `value=<${v.length}>`);
  }
  if (n.op === 'param') parts.push(paramInfo(n).trainable ? 'trainable' : 'frozen');
  return parts.length ? ` {${parts.join(' ')}}` : '';
}

export function printNode(n: Node): string {
  const name = n.op === 'input' || n.op === 'param' ? ` '${leafName(n)}'` : '';
  const args = n.inputs.map((i) => `%${i}`).join(', ');
  return `%${n.id}: ${n.dtype}${shapeStr(n.shape)} = ${n.op}${name}(${args})${attrStr(n)}`;
}

export function printGraph(g: Graph, opts: { maxNodes?: number } = {}): string {
  const lines: string[] = [];
  let scope: string | undefined = '\u0000';
  const outs = new Map<number, string[]>();
  for (const [name, id] of g.outputs) outs.set(id, [...(outs.get(id) ?? []), name]);
  for (const n of g.nodes.slice(0, opts.maxNodes ?? Infinity)) {
    if (n.scope !== scope) {
      scope = n.scope;
      lines.push(`# ${scope ?? '<root>'}`);
    }
    const tag = outs.has(n.id) ? `    -> ${outs.get(n.id)!.join(', ')}` : '';
    lines.push(`  ${printNode(n)}${tag}`);
  }
  if (opts.maxNodes !== undefined && g.nodes.length > opts.maxNodes)
    lines.push(`  ... ${g.nodes.length - opts.maxNodes} more nodes`);
  return lines.join('\n');
}
