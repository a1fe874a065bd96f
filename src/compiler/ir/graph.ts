/**
 * The IR: an SSA graph of primitive ops with static shapes and dtypes.
 * Nodes are appended in topological order (an input always has a smaller id than its user),
 * so passes walk `nodes` forwards for evaluation and backwards for autodiff.
 */
export type DType = 'f32' | 'f16' | 'i32' | 'u32';
export type Shape = readonly number[];
export type Attrs = Record<string, unknown>;

export interface ParamInfo {
  name: string;
  trainable: boolean;
  /** How the runtime initializes it; the compiler never reads the values. */
  init: InitSpec;
  /** Parameters that are biases or norm scales (excluded from weight decay). */
  noDecay?: boolean;
}

export type InitSpec =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; bound: number }
  | { kind: 'xavier'; gain: number; fanIn: number; fanOut: number }
  | { kind: 'kaiming'; fanIn: number };

export interface Node {
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly number[];
  readonly attrs: Attrs;
  readonly shape: Shape;
  readonly dtype: DType;
  /** Where the node came from (a layer path), for error messages and the printer. */
  readonly scope?: string;
}

export class Graph {
  readonly nodes: Node[] = [];
  /** Named outputs: loss, logits, grad:<param>, ... */
  readonly outputs = new Map<string, number>();

  get(id: number): Node {
    const n = this.nodes[id];
    if (!n) throw new Error(`graph has no node %${id}`);
    return n;
  }

  push(n: Omit<Node, 'id'>): Node {
    const node: Node = { ...n, id: this.nodes.length };
    this.nodes.push(node);
    return node;
  }

  /** Leaf nodes of an op kind, by their `name` attr. */
  leaves(op: 'input' | 'param'): Map<string, Node> {
    const out = new Map<string, Node>();
    for (const n of this.nodes) if (n.op === op) out.set(n.attrs.name as string, n);
    return out;
  }

  params(): Map<string, Node> {
    return this.leaves('param');
  }

  inputs(): Map<string, Node> {
    return this.leaves('input');
  }

  /** Users of each node, by id. */
  users(): number[][] {
    const u: number[][] = this.nodes.map(() => []);
    for (const n of this.nodes) for (const i of n.inputs) u[i].push(n.id);
    return u;
  }
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

export function isFloat(d: DType): boolean {
  return d === 'f32' || d === 'f16';
}
