/**
 * Compiling a training step in process: forward + backward + clipping + optimizer into one
 * plan, run by a StepRunner (one command buffer per step, async loss readback).
 */
import type { Graph } from '../compiler/ir/graph.ts';
import type { AutodiffReport } from '../compiler/autodiff.ts';
import { newName } from '../compiler/optimizer.ts';
import { compile } from '../compiler/compile.ts';
import type { DeviceProfile, Plan, PlanOptions } from '../compiler/plan.ts';
import type { Backend } from '../runtime/backend.ts';
import type { Gpu } from '../runtime/device.ts';
import { Executor } from '../runtime/executor.ts';
import { profileOf } from '../runtime/profile.ts';
import type { WeightMap } from '../runtime/half.ts';
import { StepRunner, type StepLayout, type StepSpec } from '../runtime/step-runner.ts';

export { NonFiniteError, type StepResult } from '../runtime/step-runner.ts';

export interface StepConfig extends StepSpec {
  plan?: PlanOptions;
}

/** The step graph and how to run it: what `compile --mode train` writes as an artifact. */
export function compileStep(
  forward: Graph,
  profile: DeviceProfile,
  cfg: StepConfig,
): { plan: Plan; layout: StepLayout; report: AutodiffReport } {
  const {
    graph,
    plan,
    step,
    autodiff: report,
  } = compile(forward, { batch: 0, mode: 'train', optimizer: cfg.optimizer, profile, plan: cfg.plan });
  const info = step!;
  const layout: StepLayout = {
    params: info.params,
    state: info.state,
    packs: info.packs,
    normRows: info.normRows,
    lossNames: [...graph.outputs.keys()].filter((k) => k.startsWith('loss')),
    // Each pack's new params trade places with the buffer its params live in, each new state with its state.
    writeBack: info.packs.flatMap((p) => [
      [newName(p.name), { kind: 'params', name: p.members[0].param }] as StepLayout['writeBack'][number],
      ...p.state.map((s) => [newName(s), { kind: 'inputs', name: s }] as StepLayout['writeBack'][number]),
    ]),
  };
  return { plan, layout, report: report! };
}

export class TrainStep extends StepRunner {
  private constructor(
    ex: Executor,
    layout: StepLayout,
    readonly cfg: StepConfig,
    readonly report: AutodiffReport,
  ) {
    super(ex, layout, cfg);
  }

  /**
   * The step on another backend (the kernel interpreter: interpreter-backend.ts), planned for
   * `profile` (PORTABLE_PROFILE: f32 storage, no GPU needed).
   */
  static async compileOn(
    backend: Backend,
    profile: DeviceProfile,
    forward: Graph,
    cfg: StepConfig,
  ): Promise<TrainStep> {
    const { plan, layout, report } = compileStep(forward, profile, cfg);
    const ts = new TrainStep(await Executor.on(backend, plan), layout, cfg, report);
    await ts.ready;
    return ts;
  }

  static async compile(gpu: Gpu, forward: Graph, cfg: StepConfig): Promise<TrainStep> {
    const { plan, layout, report } = compileStep(forward, profileOf(gpu), cfg);
    const ts = new TrainStep(await Executor.create(gpu, plan), layout, cfg, report);
    await ts.ready;
    return ts;
  }

  get plan(): Plan {
    return this.ex.plan;
  }

  get info(): StepLayout {
    return this.layout;
  }

  /** Uploads weights for every param of the graph (frozen ones too). */
  setWeights(w: WeightMap): void {
    for (const name of Object.keys(this.plan.params)) {
      const v = w[name];
      if (!v) throw new Error(`setWeights: no value for param '${name}'`);
      this.ex.setParam(name, v);
    }
  }

  readWeights(names: string[] = Object.keys(this.plan.params)): Promise<Record<string, Float32Array>> {
    return this.ex.readSlots('params', names);
  }

  destroy(): void {
    this.ex.destroy();
  }
}
