/**
 * The optimizer as a graph transform: the joint forward+backward graph gains the update rule,
 * so the compiler fuses it into kernels of the same single-submission step. Per trainable
 * param p (gradient g):
 *   global-norm clipping   g' = g * min(1, clip / (||g||_global + 1e-6))
 *   AdamW                  m' = b1 m + (1-b1) g'; v' = b2 v + (1-b2) g'^2
 *                          p' = p - lr (m' bc1 / (sqrt(v' bc2) + eps) + wd p)   (no wd on biases/norms)
 *   SGD (momentum mu)      u' = mu u + g'; p' = p - lr (u' + wd p)
 * Step-dependent scalars (lr, bias corrections) are inputs; new values are outputs
 * `new:<p>`, `new:m:<p>`, `new:v:<p>` that the runtime copies back within the same command buffer.
 * The per-param squared norms are an output too (`sqnorms`), for logging and the NaN guard.
 */
import { Builder, type Tensor } from './builder.ts';
import type { Graph } from './ir/graph.ts';
import { gradName } from './autodiff.ts';
import { paramInfo } from './ir/attrs.ts';

export type OptimizerConfig =
  | { kind: 'adamw'; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; clip?: number }
  | { kind: 'sgd'; momentum?: number; weightDecay?: number; clip?: number };

export interface StepGraphInfo {
  /** Trainable params in the order of `sqnorms`. */
  params: string[];
  /** State tensors per param (names of the graph inputs), e.g. m and v for AdamW. */
  state: string[];
}

export const stateName = (kind: string, param: string) => `${kind}:${param}`;
export const newName = (name: string) => `new:${name}`;

export function addOptimizer(joint: Graph, cfg: OptimizerConfig): { graph: Graph; info: StepGraphInfo } {
  const b = new Builder(joint);
  const params = [...joint.params()].filter(([, n]) => paramInfo(n).trainable);
  for (const [name] of params) if (!joint.outputs.has(gradName(name))) throw new Error(`addOptimizer: no gradient output for '${name}' (run autodiff first)`);
  const lr = b.input('opt.lr', []);
  const sq = b.scope('optimizer.norm', () =>
    params.map(([name]) => {
      const g = b.t(joint.outputs.get(gradName(name))!);
      return g.mul(g).sum().reshape([1]);
    }),
  );
  const sqnorms = b.concat(sq, 0);
  b.output('sqnorms', sqnorms);
  const clip = cfg.clip ?? 0;
  const factor = clip > 0 ? b.scope('optimizer.norm', () => b.constant(clip).div(sqnorms.sum().sqrt().add(1e-6)).minimum(1)) : null;
  const state: string[] = [];
  const stateInput = (kind: string, name: string, shape: readonly number[]): Tensor => {
    state.push(stateName(kind, name));
    return b.input(stateName(kind, name), shape);
  };
  const bc = cfg.kind === 'adamw' ? [b.input('opt.bc1', []), b.input('opt.bc2', [])] : [];
  for (const [name, n] of params) {
    b.scope(`optimizer.${name}`, () => {
      const p = b.t(n.id);
      let g = b.t(joint.outputs.get(gradName(name))!);
      if (factor) g = g.mul(factor);
      const info = paramInfo(n);
      const wd = info.noDecay ? 0 : (cfg.weightDecay ?? 0);
      let update: Tensor;
      if (cfg.kind === 'adamw') {
        const [b1, b2, eps] = [cfg.beta1 ?? 0.9, cfg.beta2 ?? 0.999, cfg.eps ?? 1e-8];
        const m = stateInput('m', name, n.shape)
          .mul(b1)
          .add(g.mul(1 - b1));
        const v = stateInput('v', name, n.shape)
          .mul(b2)
          .add(g.mul(g).mul(1 - b2));
        b.output(newName(stateName('m', name)), m);
        b.output(newName(stateName('v', name)), v);
        update = m.mul(bc[0]).div(v.mul(bc[1]).sqrt().add(eps));
      } else if (cfg.momentum) {
        const u = stateInput('u', name, n.shape).mul(cfg.momentum).add(g);
        b.output(newName(stateName('u', name)), u);
        update = u;
      } else update = g; // plain SGD keeps no state: nothing to read, write or copy back
      if (wd > 0) update = update.add(p.mul(wd));
      b.output(newName(name), p.sub(update.mul(lr)));
    });
  }
  // Gradients are now internal: dropping them as outputs lets them fuse into the update.
  for (const [name] of params) joint.outputs.delete(gradName(name));
  return { graph: joint, info: { params: params.map(([k]) => k), state } };
}
