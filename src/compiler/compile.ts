/**
 * The one compile pipeline: spec (or a traced graph) -> lower -> autodiff -> optimizer ->
 * simplify -> fuse + memory plan + codegen (compilePlan), with one options object and one set of
 * defaults. train, eval, explain, compile, artifacts, benches and tests all call it, so what
 * `explain` prints is what `train` runs.
 */
import type { Graph } from './ir/graph.ts';
import { lowerModel } from './lower/index.ts';
import { autodiff, type AutodiffReport } from './autodiff.ts';
import { addOptimizer, NORM_ROW, type OptimizerConfig, type StepGraphInfo } from './optimizer.ts';
import { simplify, type SimplifyReport } from './passes/simplify.ts';
import { compilePlan, PORTABLE_PROFILE, type DeviceProfile, type Plan, type PlanOptions } from './plan.ts';
import type { ModelSpec, ModelSpecInput } from '../dsl/spec.ts';
import { verifyGraph } from './ir/verify.ts';

/** The optimizer of a training step unless told otherwise: METHODS.md's AdamW (eps 1e-6, weight decay 0.01, clipping 5). */
export const DEFAULT_OPTIMIZER: OptimizerConfig = { kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 };

export interface CompileOptions {
  batch: number;
  mode: 'train' | 'infer';
  /** Inference graph with experts merged and foldable insertions folded (mode 'infer'). */
  merged?: boolean;
  /** Also output each tower's final states and pooled feature. */
  features?: boolean;
  /** Compute the task loss (takes targets); default: in training only (see LowerOptions). */
  loss?: boolean;
  /** Training: the update rule added to the step graph. */
  optimizer?: OptimizerConfig;
  /** The adapter planned for; a portable profile (8 bindings, 128 MiB) when absent. */
  profile?: DeviceProfile;
  plan?: PlanOptions;
  /** Check the graph after every stage (verify.ts); default: PEFTGRAPH_VERIFY=1 (the tests set it). */
  verify?: boolean;
}

export interface Compiled {
  /** The lowered forward graph (its params are the model's). */
  forward: Graph;
  /** The final graph the plan runs (forward + backward + update when training, simplified). */
  graph: Graph;
  plan: Plan;
  autodiff?: AutodiffReport;
  /** Training: trainable params and optimizer state names, in the order the step uses them. */
  step?: StepGraphInfo;
  simplify: SimplifyReport;
}

/** Compiles a spec, or a forward graph already traced (with a scalar `loss` output to train). */
export function compile(input: ModelSpec | ModelSpecInput | Graph, o: CompileOptions): Compiled {
  const check = (o.verify ?? process.env.PEFTGRAPH_VERIFY === '1') ? verifyGraph : () => undefined;
  const forward =
    'nodes' in input
      ? (input as Graph)
      : lowerModel(input as ModelSpecInput, {
          batch: o.batch,
          mode: o.mode,
          merged: o.merged,
          features: o.features,
          loss: o.loss,
        }).graph;
  check(forward, 'lower');
  let graph = forward;
  let ad: AutodiffReport | undefined;
  let step: StepGraphInfo | undefined;
  if (o.mode === 'train') {
    const joint = autodiff(forward, { loss: 'loss' });
    check(joint.graph, 'autodiff');
    ad = joint.report;
    const profile = o.profile ?? PORTABLE_PROFILE;
    const bytes = Math.min(profile.maxStorageBufferBindingSize, profile.maxBufferSize);
    const withOpt = addOptimizer(joint.graph, o.optimizer ?? DEFAULT_OPTIMIZER, {
      maxElements: Math.floor(bytes / 4 / NORM_ROW) * NORM_ROW,
    });
    check(withOpt.graph, 'optimizer');
    graph = withOpt.graph;
    step = withOpt.info;
  }
  const simple = simplify(graph);
  check(simple.graph, 'simplify');
  const plan = compilePlan(simple.graph, o.profile ?? PORTABLE_PROFILE, o.plan);
  return { forward, graph: simple.graph, plan, autodiff: ad, step, simplify: simple.report };
}
