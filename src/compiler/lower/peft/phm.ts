/**
 * PHM (parameterized hypercomplex multiplication) layers: W = sum_i S_i kron (T_i U_i), with
 * S (n x n x n) usually shared across the model, T_i (d_in/n x k) and U_i (k x d_out/n).
 */
import { UserError } from '../../../user-error.ts';
import type { Builder, Tensor } from '../../builder.ts';
import type { Lowering } from '../context.ts';
import { xavier } from '../inits.ts';
import { expertInit } from './experts.ts';

export interface PhmShape {
  n: number;
  k: number;
  din: number;
  dout: number;
}

export class PhmShapeError extends UserError {
  override name = 'PhmShapeError';
}

export function checkPhm(layer: string, s: PhmShape): void {
  for (const [what, d] of [
    ['input width', s.din],
    ['output width', s.dout],
  ] as const) {
    if (d % s.n !== 0) {
      throw new PhmShapeError(
        `PHM layer '${layer}': ${what} ${d} is not divisible by kron n = ${s.n}; choose n among ${divisors(s.din, s.dout).join(', ')} or change the bottleneck`,
      );
    }
  }
}

function divisors(a: number, b: number): number[] {
  const out: number[] = [];
  for (let n = 1; n <= Math.min(a, b); n++) if (a % n === 0 && b % n === 0) out.push(n);
  return out;
}

/** The dense (din x dout) weight from S [n,n,n], T [n, din/n, k], U [n, k, dout/n]. */
export function phmWeight(b: Builder, S: Tensor, T: Tensor, U: Tensor, s: PhmShape): Tensor {
  const { n, din, dout } = s;
  const [p, q] = [din / n, dout / n];
  const Wi = T.matmul(U); // [n, p, q]
  // kron(S_i, W_i)[a p + c, b q + e] = S_i[a, b] W_i[c, e]: lay out [i, a, c, b, e], sum over i.
  const prod = S.reshape([n, n, 1, n, 1]).mul(Wi.reshape([n, 1, p, 1, q]));
  return b.sum(prod, [0]).reshape([din, dout]);
}

/** Factors T, U and bias b of one PHM projection, under `name`; `lead` prepends expert axes. */
export function phmFactors(ctx: Lowering, name: string, s: PhmShape, lead: number[] = []) {
  checkPhm(name, s);
  const { n, k, din, dout } = s;
  const gain = Math.SQRT2;
  return {
    T: ctx.peftParam(`${name}.T`, [...lead, n, din / n, k], expertInit(lead, xavier(gain, din / n, k))),
    U: ctx.peftParam(`${name}.U`, [...lead, n, k, dout / n], expertInit(lead, xavier(gain, k, dout / n))),
    b: ctx.peftParam(`${name}.b`, [...lead, dout], { kind: 'zeros' }, { noDecay: true }),
  };
}

/** The shared S tensor: one per model (global), per layer, or per module. */
export function sharedS(
  ctx: Lowering,
  method: string,
  scope: 'global' | 'layer' | 'module' | 'none',
  path: string,
  n: number,
): Tensor {
  const layer = /^(.*\.layers\.\d+)/.exec(path)?.[1] ?? path;
  const name = scope === 'global' ? `${method}.S` : scope === 'layer' ? `${layer}.${method}.S` : `${path}.${method}.S`;
  return ctx.peftParam(name, [n, n, n], { kind: 'normal', std: 0.01 }, { noDecay: true });
}

/** y = x @ W + b for a PHM projection with given factors. */
export function phmApply(
  b: Builder,
  x: Tensor,
  S: Tensor,
  f: { T: Tensor; U: Tensor; b: Tensor },
  s: PhmShape,
): Tensor {
  return x.matmul(phmWeight(b, S, f.T, f.U, s)).add(f.b);
}
