/**
 * Typed attributes per op: what each primitive's `attrs` hold, in one place. Nodes keep `attrs`
 * as a plain record (graphs are plain data); code reads an op's attributes through attrsOf,
 * which checks the node's op and returns them typed, and op definitions are typed by their
 * entry here (defineOp<'permute'>), so a misspelled or missing attribute is a type error.
 */
import type { Attrs, DType, Node, ParamInfo } from './graph.ts';

interface Axes {
  axes: number[];
  keepdims: boolean;
}

export interface OpAttrs {
  input: { name: string; shape: number[]; dtype: DType };
  param: { name: string; shape: number[]; dtype: DType; info: ParamInfo };
  const: { value: number[]; shape: number[]; dtype: DType };
  cast: { dtype: DType };
  sum: Axes;
  max_reduce: Axes;
  matmul: { transA: boolean; transB: boolean };
  layernorm: { eps: number };
  layernorm_grad: { eps: number };
  rmsnorm: { eps: number };
  rmsnorm_grad: { eps: number };
  reshape: { shape: number[] };
  broadcast: { shape: number[] };
  permute: { perm: number[] };
  slice: { starts: number[]; ends: number[] };
  pad: { before: number[]; after: number[] };
  concat: { axis: number };
  gather: Record<string, never>;
  scatter_add: { size: number };
  random: { shape: number[]; dist: 'uniform' | 'int'; high?: number; salt: number };
}

export type AttrOp = keyof OpAttrs;

/** Attributes of an op: its entry in OpAttrs, or none (elementwise ops). */
export type AttrsFor<K extends string> = K extends AttrOp ? OpAttrs[K] : Attrs;

/** The attributes of `n`, typed for `ops` (n.op must be one of them). */
export function attrsOf<K extends AttrOp>(n: Pick<Node, 'op' | 'attrs' | 'id'>, ...ops: K[]): OpAttrs[K] {
  if (!(ops as string[]).includes(n.op))
    throw new Error(`attributes of ${ops.join(' or ')} asked of %${n.id}, a ${n.op}`);
  return n.attrs as unknown as OpAttrs[K];
}

/** A param's ParamInfo. */
export function paramInfo(n: Pick<Node, 'op' | 'attrs' | 'id'>): ParamInfo {
  return attrsOf(n, 'param').info;
}

/** An input's or a param's name. */
export function leafName(n: Pick<Node, 'op' | 'attrs' | 'id'>): string {
  return attrsOf(n, 'input', 'param').name;
}
