/**
 * The optimizer as a graph transform: the joint forward+backward graph gains the update rule,
 * so the compiler fuses it into kernels of the same single-submission step. Per trainable
 * param p (gradient g):
 *   global-norm clipping   g' = g * min(1, clip / (||g||_global + 1e-6))
 *   AdamW                  m' = b1 m + (1-b1) g'; v' = b2 v + (1-b2) g'^2
 *                          p' = p - lr (m' bc1 / (sqrt(v' bc2) + eps) + wd p)   (no wd on biases/norms)
 *   SGD (momentum mu)      u' = mu u + g'; p' = p - lr (u' + wd p)
 *
 * Multi-tensor: the rule runs once over packs, not once per tensor. A pack concatenates the
 * flattened tensors, each padded with zeros to a multiple of NORM_ROW elements; the fusion pass
 * writes packs in place (passes/fuse.ts, packParts), so the params live in one buffer, each
 * gradient's kernel writes into its slice of another, and one kernel updates every param and
 * state (zeros in the pads stay zeros). Packs split only at the adapter's binding size.
 * Step-dependent scalars (lr, bias corrections) are inputs; the updated pack and states are
 * outputs `new:<pack>`, `new:m:<pack>`... that trade buffers with the current ones after a step.
 * `sqnorms` holds each NORM_ROW-element row's squared gradient norm (rows in param order;
 * `normRows` says how many each param has), for the global norm, logging and the NaN guard.
 */
import { STEP_INPUTS } from '../step-inputs.ts';
import { Builder, type Tensor } from './builder.ts';
import { numel, type Graph, type Node } from './ir/graph.ts';
import { gradName } from './autodiff.ts';
import { paramInfo } from './ir/attrs.ts';

export type OptimizerConfig =
  | { kind: 'adamw'; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; clip?: number }
  | { kind: 'sgd'; momentum?: number; weightDecay?: number; clip?: number };

/** Elements per row of a pack: a part's padded length is a multiple (a multiple of fuse.ts's PACK_ALIGN). */
export const NORM_ROW = 256;

/** One pack: its params' places (in elements) and the graph inputs holding its optimizer state. */
export interface PackLayout {
  name: string;
  elements: number;
  members: { param: string; offset: number; numel: number }[];
  /** State kinds ('m', 'v'; 'u'; none for plain SGD) and the pack's input for each. */
  kinds: string[];
  state: string[];
}

export interface StepGraphInfo {
  /** Trainable params in pack order (the order of `sqnorms`' rows). */
  params: string[];
  /** Optimizer state per param as checkpoints hold it (m:<p>, v:<p> or u:<p>). */
  state: string[];
  packs: PackLayout[];
  /** Rows of `sqnorms` per param, in `params` order. */
  normRows: number[];
}

export const stateName = (kind: string, param: string) => `${kind}:${param}`;
/** The state kind an input of a step graph holds ('m', 'v', 'u'), or null for any other input. */
export const stateKindOf = (input: string): string | null => /^(m|v|u):/.exec(input)?.[1] ?? null;
export const newName = (name: string) => `new:${name}`;
/** '#' appears in no param path, so a pack's name never clashes with a param's. */
export const packName = (k: number) => `pack#${k}`;

export interface PackLimits {
  /** Elements a pack may hold: the adapter's binding size / 4 (a single larger param gets a pack alone). */
  maxElements: number;
}

export function addOptimizer(
  joint: Graph,
  cfg: OptimizerConfig,
  limits: PackLimits = { maxElements: 2 ** 25 },
): { graph: Graph; info: StepGraphInfo } {
  const b = new Builder(joint);
  const params = [...joint.params()].filter(([, n]) => paramInfo(n).trainable);
  for (const [name] of params)
    if (!joint.outputs.has(gradName(name)))
      throw new Error(`addOptimizer: no gradient output for '${name}' (run autodiff first)`);
  const kinds = cfg.kind === 'adamw' ? ['m', 'v'] : cfg.momentum ? ['u'] : [];
  const packs = packParams(params, kinds, limits.maxElements);
  const grad = (name: string) => b.t(joint.outputs.get(gradName(name))!);
  // The pack of per-param tensors: flattened, zero-padded to whole rows, concatenated.
  const packOf = (p: PackLayout, tensor: (param: string) => Tensor): Tensor => {
    const parts = p.members.map((m) => {
      const flat = tensor(m.param).reshape([m.numel]);
      const tail = padded(m.numel) - m.numel;
      return tail ? b.pad(flat, [0], [tail]) : flat;
    });
    // A concat node even for one part: the fusion pass writes packs, which are concats, in place.
    return parts.length === 1 ? b.op('concat', parts, { axis: 0 }) : b.concat(parts, 0);
  };
  const grads = packs.map((p) => b.scope('optimizer.pack', () => packOf(p, grad)));
  const sqnorms = b.scope('optimizer.norm', () =>
    b.concat(
      grads.map((g, k) => {
        const rows = g.reshape([packs[k].elements / NORM_ROW, NORM_ROW]);
        return rows.mul(rows).sum([1]);
      }),
      0,
    ),
  );
  b.output('sqnorms', sqnorms);
  const clip = cfg.clip ?? 0;
  const factor =
    clip > 0 ? b.scope('optimizer.norm', () => b.constant(clip).div(sqnorms.sum().sqrt().add(1e-6)).minimum(1)) : null;
  const bc = cfg.kind === 'adamw' ? [b.input(STEP_INPUTS.bc1, []), b.input(STEP_INPUTS.bc2, [])] : [];
  const lr = b.input(STEP_INPUTS.lr, []);
  const byName = new Map(params);
  packs.forEach((pack, k) =>
    b.scope(`optimizer.${pack.name}`, () => {
      const p = packOf(pack, (name) => b.t(byName.get(name)!.id));
      const g = factor ? grads[k].mul(factor) : grads[k];
      const state = (kind: string) => b.input(pack.state[pack.kinds.indexOf(kind)], [pack.elements]);
      let update: Tensor;
      if (cfg.kind === 'adamw') {
        const [b1, b2, eps] = [cfg.beta1 ?? 0.9, cfg.beta2 ?? 0.999, cfg.eps ?? 1e-8];
        const m = state('m')
          .mul(b1)
          .add(g.mul(1 - b1));
        const v = state('v')
          .mul(b2)
          .add(g.mul(g).mul(1 - b2));
        b.output(newName(pack.state[0]), m);
        b.output(newName(pack.state[1]), v);
        update = m.mul(bc[0]).div(v.mul(bc[1]).sqrt().add(eps));
      } else if (cfg.momentum) {
        const u = state('u').mul(cfg.momentum).add(g);
        b.output(newName(pack.state[0]), u);
        update = u;
      } else update = g; // plain SGD keeps no state: nothing to read, write or trade
      const decay = weightDecay(b, pack, byName, cfg.weightDecay ?? 0);
      if (decay) update = update.add(p.mul(decay));
      b.output(newName(pack.name), p.sub(update.mul(lr)));
    }),
  );
  // Gradients are now internal: dropping them as outputs lets their kernels write into the pack.
  for (const [name] of params) joint.outputs.delete(gradName(name));
  const order = packs.flatMap((p) => p.members.map((m) => m.param));
  return {
    graph: joint,
    info: {
      params: order,
      state: order.flatMap((name) => kinds.map((kind) => stateName(kind, name))),
      packs,
      normRows: packs.flatMap((p) => p.members.map((m) => padded(m.numel) / NORM_ROW)),
    },
  };
}

const padded = (n: number) => Math.ceil(n / NORM_ROW) * NORM_ROW;

/** Params into packs of at most maxElements (padded), in the graph's order. */
function packParams(params: [string, Node][], kinds: string[], maxElements: number): PackLayout[] {
  const packs: PackLayout[] = [];
  let cur: PackLayout | null = null;
  for (const [param, n] of params) {
    const size = padded(numel(n.shape));
    if (!cur || (cur.elements + size > maxElements && cur.members.length)) {
      const name = packName(packs.length);
      cur = { name, elements: 0, members: [], kinds, state: kinds.map((kind) => stateName(kind, name)) };
      packs.push(cur);
    }
    cur.members.push({ param, offset: cur.elements, numel: numel(n.shape) });
    cur.elements += size;
  }
  return packs;
}

/** The pack's weight decay: a scalar when every member decays alike, else a per-row column (no decay on biases and norms). */
function weightDecay(b: Builder, pack: PackLayout, params: Map<string, Node>, wd: number): Tensor | number {
  const per = pack.members.map((m) => (paramInfo(params.get(m.param)!).noDecay ? 0 : wd));
  if (per.every((w) => w === per[0])) return per[0];
  const rows = pack.members.flatMap((m, i) => new Array<number>(padded(m.numel) / NORM_ROW).fill(per[i]));
  const column = b.constant(rows, [rows.length, 1]);
  return b.broadcastTo(column, [rows.length, NORM_ROW]).reshape([pack.elements]);
}
