/**
 * The IR: an SSA graph of primitive ops with static shapes and dtypes.
 * Nodes are appended in topological order (an input always has a smaller id than its user),
 * so passes walk `nodes` forwards for evaluation and backwards for autodiff.
 */
import { leafName } from './attrs.ts';
import type { OpName } from './op-names.ts';
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
  | { kind: 'kaiming'; fanIn: number }
  /** `copies` equal blocks along the leading axes, each drawn from `each` (experts that start as one). */
  | { kind: 'copies'; copies: number; each: InitSpec }
  /**
   * Computed from another param's initial value (after pretrained weights are in): `rule` names
   * the function (runtime/init.ts DERIVED), e.g. DoRA's magnitude as the column norms of W0.
   */
  | { kind: 'derived'; from: string; rule: DerivedRule };

/** The derived initializers runtime/init.ts implements. */
export type DerivedRule = 'columnNorm';

export interface Node {
  readonly id: number;
  readonly op: OpName;
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
  /** Leaves by name, kept as nodes are appended: looking a param up must not scan the graph. */
  private readonly leafIndex = { input: new Map<string, Node>(), param: new Map<string, Node>() };

  get(id: number): Node {
    const n = this.nodes[id];
    if (!n) throw new Error(`graph has no node %${id}`);
    return n;
  }

  push(n: Omit<Node, 'id'>): Node {
    const node: Node = { ...n, id: this.nodes.length };
    this.nodes.push(node);
    if (node.op === 'input' || node.op === 'param') this.leafIndex[node.op].set(leafName(node), node);
    return node;
  }

  /** Appends a node of another graph as is, id included (it must be the next id). */
  adopt(n: Node): Node {
    if (n.id !== this.nodes.length) throw new Error(`adopt: %${n.id} is not the next node (%${this.nodes.length})`);
    this.nodes.push(n);
    if (n.op === 'input' || n.op === 'param') this.leafIndex[n.op].set(leafName(n), n);
    return n;
  }

  /** Leaf nodes of an op kind, by their `name` attr, in graph order (a copy: callers may edit it). */
  leaves(op: 'input' | 'param'): Map<string, Node> {
    return new Map(this.leafIndex[op]);
  }

  /** One leaf by name, without copying the index. */
  leaf(op: 'input' | 'param', name: string): Node | undefined {
    return this.leafIndex[op].get(name);
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

export function isFloat(d: DType): boolean {
  return d === 'f32' || d === 'f16';
}
