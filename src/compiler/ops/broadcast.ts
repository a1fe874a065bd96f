/** numpy broadcasting: shape rule and the index map the reference uses. */
import { shapeStr, type Shape } from '../ir/graph.ts';
import { strides } from '../ir/value.ts';
import { ShapeError } from './table.ts';

export function broadcastShapes(where: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i];
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) {
        throw new ShapeError(
          where,
          `cannot broadcast shapes ${shapes.map(shapeStr).join(' and ')} (axis ${o}: ${out[o]} vs ${d})`,
        );
      }
    }
  }
  return out;
}

/**
 * For each output flat index, the flat index into an input of shape `inShape` broadcast to
 * `outShape`. Precomputed as a table: reference graphs are small.
 */
export function broadcastIndex(inShape: Shape, outShape: Shape): Int32Array {
  const rank = outShape.length;
  const inStr = strides(inShape);
  const eff = new Array<number>(rank).fill(0);
  for (let i = 0; i < inShape.length; i++) {
    const o = rank - inShape.length + i;
    eff[o] = inShape[i] === 1 ? 0 : inStr[i];
  }
  let total = 1;
  for (const d of outShape) total *= d;
  const idx = new Int32Array(total);
  const coord = new Array<number>(rank).fill(0);
  for (let f = 0; f < total; f++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += coord[d] * eff[d];
    idx[f] = src;
    for (let d = rank - 1; d >= 0; d--) {
      if (++coord[d] < outShape[d]) break;
      coord[d] = 0;
    }
  }
  return idx;
}

/** Axes of `outShape` that were broadcast from `inShape` (to sum over in a VJP). */
export function broadcastAxes(inShape: Shape, outShape: Shape): number[] {
  const axes: number[] = [];
  const lead = outShape.length - inShape.length;
  for (let o = 0; o < outShape.length; o++) {
    if (o < lead || (inShape[o - lead] === 1 && outShape[o] !== 1)) axes.push(o);
  }
  return axes;
}
