/**
 * The peers' MLP-block training step (../shared/peers/README.md) as a peftgraph graph, for the
 * benches that run or inspect it (mlp-step.ts, ceiling.ts): X [512, 128] (B=32, T=16, d=128),
 * hidden 512, y = X + GELU_tanh(LN(X) W1 + b1) W2 + b2 (LN without affine, eps 1e-5),
 * loss = mean(y^2). GELU is the op table's tanh form (METHODS.md).
 */
import { Builder } from '../src/compiler/builder.ts';

export const [MLP_B, MLP_T, MLP_D, MLP_H] = [32, 16, 128, 512];

export function mlpBlock(): Builder {
  const b = new Builder();
  const X = b.input('X', [MLP_B * MLP_T, MLP_D]);
  const p = (name: string, shape: number[]) => b.param(name, shape, { trainable: true, init: { kind: 'zeros' } });
  // LN without affine: the row primitive (ops/row.ts), one kernel each way.
  const ln = b.op('layernorm', [X], { eps: 1e-5 });
  const y = X.add(
    ln
      .matmul(p('W1', [MLP_D, MLP_H]))
      .add(p('b1', [MLP_H]))
      .gelu()
      .matmul(p('W2', [MLP_H, MLP_D]))
      .add(p('b2', [MLP_D])),
  );
  b.output('loss', y.mul(y).mean());
  return b;
}
