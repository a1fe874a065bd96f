/**
 * Simplify: dead-code elimination, common-subexpression elimination, constant folding,
 * transpose folding into matmul flags, and a few algebraic identities. Each is a `rewrite`;
 * `simplify` runs them to a fixed point.
 */
import { numel, sameShape, type Graph, type Node } from '../ir/graph.ts';
import { Value } from '../ir/value.ts';
import { getOp } from '../ops/index.ts';
import { liveNodes } from '../reference.ts';
import { rewrite } from './rewrite.ts';
import { attrsOf } from '../ir/attrs.ts';

/** Drops nodes no output needs. Inputs and params stay: they are the graph's interface. */
export function dce(g: Graph): Graph {
  const live = new Set(liveNodes(g, g.outputs.values()).map((n) => n.id));
  return rewrite(
    g,
    () => undefined,
    (n) => live.has(n.id) || n.op === 'input' || n.op === 'param',
  );
}

function key(n: Node): string {
  return `${n.op}|${n.inputs.join(',')}|${n.dtype}|${n.shape.join(',')}|${JSON.stringify(n.attrs)}`;
}

/** Merges nodes with the same op, inputs and attrs (leaves other than constants are unique). */
export function cse(g: Graph): Graph {
  const seen = new Map<string, number>();
  return rewrite(g, (n, out) => {
    if (n.op === 'input' || n.op === 'param') return undefined;
    const k = key(n);
    const hit = seen.get(k);
    if (hit !== undefined) return hit;
    const id = out.push(n).id;
    seen.set(k, id);
    return id;
  });
}

const FOLD_LIMIT = 4096;

/** Evaluates nodes whose inputs are all constants (small outputs only). */
export function foldConstants(g: Graph): Graph {
  return rewrite(g, (n, out) => {
    const def = getOp(n.op);
    if (def.kind === 'leaf' || def.kind === 'random' || n.inputs.length === 0) return undefined;
    const ins = n.inputs.map((i) => out.get(i));
    if (!ins.every((x) => x.op === 'const') || numel(n.shape) > FOLD_LIMIT) return undefined;
    const vals = ins.map((x) => def && Value.of(x.shape, attrsOf(x, 'const').value, x.dtype));
    const v = def.ref(vals, n.attrs, n);
    return out.push({
      op: 'const',
      inputs: [],
      attrs: { value: [...v.data], shape: [...n.shape], dtype: n.dtype },
      shape: n.shape,
      dtype: n.dtype,
      scope: n.scope,
    }).id;
  });
}

function swapsLastTwo(n: Node): boolean {
  if (n.op !== 'permute') return false;
  const p = attrsOf(n, 'permute').perm;
  const r = p.length;
  return r >= 2 && p[r - 2] === r - 1 && p[r - 1] === r - 2 && p.slice(0, -2).every((v, i) => v === i);
}

function isScalarConst(n: Node, v: number): boolean {
  return n.op === 'const' && attrsOf(n, 'const').value.every((x) => x === v);
}

/**
 * matmul(transpose(x), y) -> matmul(x, y, transA flipped) (and for B); reshape of reshape;
 * x * 1, x + 0, x - 0, x / 1 where the result has x's shape.
 */
export function algebraic(g: Graph): Graph {
  return rewrite(g, (n, out) => {
    const ins = n.inputs.map((i) => out.get(i));
    if (n.op === 'matmul' && ins.some(swapsLastTwo)) {
      const [a, b] = ins;
      const attrs = { ...n.attrs };
      const inputs = [...n.inputs];
      if (swapsLastTwo(a)) [inputs[0], attrs.transA] = [a.inputs[0], !attrs.transA];
      if (swapsLastTwo(b)) [inputs[1], attrs.transB] = [b.inputs[0], !attrs.transB];
      return out.push({ ...n, inputs, attrs }).id;
    }
    if (n.op === 'reshape' && ins[0].op === 'reshape') {
      const src = out.get(ins[0].inputs[0]);
      if (sameShape(src.shape, n.shape)) return src.id;
      return out.push({ ...n, inputs: [src.id] }).id;
    }
    if ((n.op === 'reshape' || n.op === 'broadcast') && sameShape(ins[0].shape, n.shape)) return ins[0].id;
    const identity: Record<string, [number, number[]]> = {
      mul: [1, [0, 1]],
      add: [0, [0, 1]],
      sub: [0, [1]],
      div: [1, [1]],
    };
    const rule = identity[n.op];
    if (rule) {
      for (const side of rule[1]) {
        const other = ins[1 - side];
        if (isScalarConst(ins[side], rule[0]) && sameShape(other.shape, n.shape)) return other.id;
      }
    }
    return undefined;
  });
}

export interface SimplifyReport {
  before: number;
  after: number;
  rounds: number;
}

export function simplify(g: Graph): { graph: Graph; report: SimplifyReport } {
  const before = g.nodes.length;
  let cur = g;
  let rounds = 0;
  for (; rounds < 8; rounds++) {
    const next = dce(cse(foldConstants(algebraic(cur))));
    const done = next.nodes.length === cur.nodes.length;
    cur = next;
    if (done) break;
  }
  return { graph: cur, report: { before, after: cur.nodes.length, rounds: rounds + 1 } };
}
