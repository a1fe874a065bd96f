/** A tensor value in the reference interpreter: Float64 storage whatever the dtype. */
import { numel, shapeStr, type DType, type Shape } from './graph.ts';

export class Value {
  constructor(
    readonly shape: Shape,
    readonly data: Float64Array,
    readonly dtype: DType = 'f32',
  ) {
    if (data.length !== numel(shape)) {
      throw new Error(`Value: ${data.length} elements do not fill shape ${shapeStr(shape)}`);
    }
  }

  static zeros(shape: Shape, dtype: DType = 'f32'): Value {
    return new Value(shape, new Float64Array(numel(shape)), dtype);
  }

  static of(shape: Shape, data: ArrayLike<number>, dtype: DType = 'f32'): Value {
    return new Value(shape, Float64Array.from(data), dtype);
  }

  static scalar(x: number, dtype: DType = 'f32'): Value {
    return new Value([], Float64Array.of(x), dtype);
  }
}

/** Row-major strides. */
export function strides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}
