/**
 * Batched matmul with transpose flags: op(A) @ op(B), op = identity or swap of the last two axes,
 * leading (batch) axes broadcast. VJPs are matmuls with flipped flags (X^T dY, dY W^T): the
 * gradient never materializes an M x K x N temporary or an explicit transpose.
 */
import { numel, shapeStr } from '../ir/graph.ts';
import { Value, strides } from '../ir/value.ts';
import { broadcastShapes, broadcastIndex } from './broadcast.ts';
import { defineOp, ShapeError, type TypeInfo } from './table.ts';

export function matmulDims(
  a: readonly number[],
  b: readonly number[],
  attrs: { transA: boolean; transB: boolean },
  where: string,
) {
  if (a.length < 2 || b.length < 2)
    throw new ShapeError(where, `needs rank >= 2 operands, got ${shapeStr(a)} and ${shapeStr(b)}`);
  const [ar, ac] = a.slice(-2);
  const [br, bc] = b.slice(-2);
  const [M, K] = attrs.transA ? [ac, ar] : [ar, ac];
  const [K2, N] = attrs.transB ? [bc, br] : [br, bc];
  if (K !== K2) {
    throw new ShapeError(
      where,
      `inner dimensions differ: ${shapeStr(a)}${attrs.transA ? '^T' : ''} @ ${shapeStr(b)}${attrs.transB ? '^T' : ''} (${K} vs ${K2})`,
    );
  }
  const batch = broadcastShapes(where, a.slice(0, -2), b.slice(0, -2));
  return { M, K, N, batch };
}

defineOp({
  name: 'matmul',
  kind: 'matmul',
  arity: 2,
  infer: ([a, b], attrs, where): TypeInfo => {
    if (a.dtype !== b.dtype) throw new ShapeError(where, `operand dtypes differ: ${a.dtype} vs ${b.dtype}`);
    const { M, N, batch } = matmulDims(a.shape, b.shape, attrs, where);
    return { shape: [...batch, M, N], dtype: a.dtype };
  },
  ref: ([a, b], attrs, out) => {
    const { M, K, N, batch } = matmulDims(a.shape, b.shape, attrs, 'matmul');
    const nb = numel(batch);
    // Batch offsets of each operand, via broadcasting of the batch shapes.
    const ia = broadcastIndex(a.shape.slice(0, -2), batch);
    const ib = broadcastIndex(b.shape.slice(0, -2), batch);
    const [sa, sb] = [strides(a.shape.slice(-2)), strides(b.shape.slice(-2))];
    const data = new Float64Array(nb * M * N);
    for (let p = 0; p < nb; p++) {
      const oa = ia[p] * M * K;
      const ob = ib[p] * K * N;
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          let acc = 0;
          for (let k = 0; k < K; k++) {
            const av = a.data[oa + (attrs.transA ? k * sa[0] + i : i * sa[0] + k)];
            const bv = b.data[ob + (attrs.transB ? j * sb[0] + k : k * sb[0] + j)];
            acc += av * bv;
          }
          data[p * M * N + i * N + j] = acc;
        }
    }
    return new Value(out.shape, data, out.dtype);
  },
  vjp: (b, { grad: g, inputs: [A, B], attrs }) => {
    const tA = attrs.transA;
    const tB = attrs.transB;
    // C = op(A) op(B):  d op(A) = dC op(B)^T,  d op(B) = op(A)^T dC.
    const dA = tA ? b.matmul(B, g, { transA: tB, transB: true }) : b.matmul(g, B, { transA: false, transB: !tB });
    // A shared weight B [K, N] under a batched A [..., M, K]: fold the batch into M so the
    // weight gradient is one [K, N] matmul, not a batch of them summed afterwards.
    if (B.rank === 2 && A.rank > 2 && !tA) {
      const K = A.shape[A.rank - 1];
      const N = g.shape[g.rank - 1];
      const [Af, gf] = [A.reshape([-1, K]), g.reshape([-1, N])];
      const dB2 = tB ? b.matmul(gf, Af, { transA: true }) : b.matmul(Af, gf, { transA: true });
      return [b.sumTo(dA, A.shape), dB2];
    }
    const dB = tB ? b.matmul(g, A, { transA: true, transB: tA }) : b.matmul(A, g, { transA: !tA, transB: false });
    return [b.sumTo(dA, A.shape), b.sumTo(dB, B.shape)];
  },
  examples: [
    { inputs: [{ shape: [3, 4] }, { shape: [4, 5] }], attrs: { transA: false, transB: false } },
    { inputs: [{ shape: [4, 3] }, { shape: [4, 5] }], attrs: { transA: true, transB: false } },
    { inputs: [{ shape: [3, 4] }, { shape: [5, 4] }], attrs: { transA: false, transB: true } },
    { inputs: [{ shape: [4, 3] }, { shape: [5, 4] }], attrs: { transA: true, transB: true } },
    { inputs: [{ shape: [2, 3, 4] }, { shape: [4, 2] }], attrs: { transA: false, transB: false } },
    { inputs: [{ shape: [2, 1, 3, 1] }, { shape: [3, 1, 2] }], attrs: { transA: false, transB: false } },
    { inputs: [{ shape: [2, 3, 4] }, { shape: [5, 4] }], attrs: { transA: false, transB: true } },
  ],
});
