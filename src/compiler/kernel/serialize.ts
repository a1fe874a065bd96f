/**
 * Kernel descriptions as plain JSON (artifacts keep them beside the WGSL rendered from them):
 * the expression DAG as a table of nodes, operands by index, each shared node once; a decoded
 * description is rebuilt through a KBuilder, so its nodes are hash-consed again and carry their
 * index-variable dependencies.
 */
import { KBuilder, type KExpr, type Kernel, type KOp, type KType } from './ir.ts';

interface EncodedExpr {
  op: KOp;
  ty: KType;
  args: number[];
  data: Record<string, unknown>;
}

export interface EncodedKernel {
  /** Expression nodes, operands before their users. */
  nodes: EncodedExpr[];
  /** The kernel with each expression replaced by `{ $e: index }`. */
  kernel: unknown;
}

const isExpr = (v: unknown): v is KExpr =>
  typeof v === 'object' && v !== null && 'deps' in v && (v as { deps: unknown }).deps instanceof Set;

export function encodeKernel(k: Kernel): EncodedKernel {
  const nodes: EncodedExpr[] = [];
  const index = new Map<number, number>();
  const node = (e: KExpr): number => {
    const have = index.get(e.id);
    if (have !== undefined) return have;
    const args = e.args.map(node);
    const { id: _id, op, args: _a, ty, deps: _d, ...data } = e as KExpr & Record<string, unknown>;
    index.set(e.id, nodes.push({ op, ty, args, data }) - 1);
    return index.get(e.id)!;
  };
  const walk = (v: unknown): unknown => {
    if (isExpr(v)) return { $e: node(v) };
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null)
      return Object.fromEntries(Object.entries(v).map(([key, x]) => [key, walk(x)]));
    return v;
  };
  const kernel = walk(k);
  return { nodes, kernel };
}

export function decodeKernel(enc: EncodedKernel): Kernel {
  const kb = new KBuilder();
  const built: KExpr[] = [];
  enc.nodes.forEach((n, i) => {
    if (n.args.some((a) => a >= i)) throw new Error(`kernel description: node ${i} uses a later node`);
    built.push(
      kb.make(
        n.op,
        n.data as never,
        n.args.map((a) => built[a]),
        n.ty,
      ),
    );
  });
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null) {
      if ('$e' in v) {
        const e = built[(v as { $e: number }).$e];
        if (!e) throw new Error(`kernel description: no node ${(v as { $e: number }).$e}`);
        return e;
      }
      return Object.fromEntries(Object.entries(v).map(([key, x]) => [key, walk(x)]));
    }
    return v;
  };
  return walk(enc.kernel) as Kernel;
}
