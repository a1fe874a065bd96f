/**
 * A compiled training step: forward + backward + clipping + optimizer, one command buffer per
 * step, params and optimizer state updated on the device. Losses and squared gradient norms
 * come back asynchronously: `submit` returns a promise the caller awaits when it wants to.
 */
import type { Graph } from '../compiler/ir/graph.ts';
import { autodiff, type AutodiffReport } from '../compiler/autodiff.ts';
import { addOptimizer, newName, type OptimizerConfig, type StepGraphInfo } from '../compiler/optimizer.ts';
import { simplify } from '../compiler/passes/simplify.ts';
import { compilePlan, type Plan, type PlanOptions } from '../compiler/plan.ts';
import type { Gpu } from './device.ts';
import { Executor, type HostArray } from './executor.ts';
import { profileOf } from './profile.ts';
import { lrAt, type Schedule } from './schedule.ts';
import type { TensorSlot } from '../compiler/plan.ts';

export interface StepConfig {
  optimizer: OptimizerConfig;
  lr: number;
  schedule: Schedule;
  totalSteps: number;
  plan?: PlanOptions;
}

export interface StepResult {
  step: number;
  lr: number;
  losses: Record<string, number>;
  gradNorm: number;
}

export class NonFiniteError extends Error {
  constructor(
    readonly step: number,
    readonly tensor: string,
  ) {
    super(`non-finite value at step ${step}: ${tensor}. Lower the learning rate, enable clipping, or check the inputs.`);
    this.name = 'NonFiniteError';
  }
}

export class TrainStep {
  step = 0;
  private constructor(
    readonly gpu: Gpu,
    readonly ex: Executor,
    readonly plan: Plan,
    readonly info: StepGraphInfo,
    readonly report: AutodiffReport,
    readonly cfg: StepConfig,
    private readonly writeBack: [string, TensorSlot][],
    readonly lossNames: string[],
  ) {}

  static async compile(gpu: Gpu, forward: Graph, cfg: StepConfig): Promise<TrainStep> {
    const { graph: joint, report } = autodiff(forward, { loss: 'loss' });
    const { graph: withOpt, info } = addOptimizer(joint, cfg.optimizer);
    const { graph } = simplify(withOpt);
    const plan = compilePlan(graph, profileOf(gpu), cfg.plan);
    const ex = await Executor.create(gpu, plan);
    const writeBack: [string, TensorSlot][] = [
      ...info.params.map((p) => [newName(p), ex.slotOf('params', p)] as [string, TensorSlot]),
      ...info.state.map((s) => [newName(s), ex.slotOf('inputs', s)] as [string, TensorSlot]),
    ];
    const lossNames = [...graph.outputs.keys()].filter((k) => k.startsWith('loss'));
    const ts = new TrainStep(gpu, ex, plan, info, report, cfg, writeBack, lossNames);
    ts.resetState();
    return ts;
  }

  /** Zeroes the optimizer state (fresh run). */
  resetState(): void {
    for (const s of this.info.state) this.ex.setInput(s, new Float32Array(this.size('inputs', s)));
    this.step = 0;
  }

  private size(kind: 'params' | 'inputs', name: string): number {
    return this.ex.slotOf(kind, name).shape.reduce((p, q) => p * q, 1);
  }

  /** Uploads weights for every param of the graph (frozen ones too). */
  setWeights(w: Record<string, ArrayLike<number>>): void {
    for (const name of Object.keys(this.plan.params)) {
      const v = w[name];
      if (!v) throw new Error(`setWeights: no value for param '${name}'`);
      this.ex.setParam(name, v);
    }
  }

  setState(state: Record<string, ArrayLike<number>>): void {
    for (const s of this.info.state) {
      if (!state[s]) throw new Error(`setState: no optimizer state '${s}'`);
      this.ex.setInput(s, state[s]);
    }
  }

  async readWeights(names: string[] = Object.keys(this.plan.params)): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const n of names) out[n] = (await this.ex.readParam(n)) as Float32Array;
    return out;
  }

  async readState(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const s of this.info.state) out[s] = (await this.ex.readSlot('inputs', s)) as Float32Array;
    return out;
  }

  /** Submits one step; resolves with its losses once the GPU has run it. Throws NonFiniteError. */
  submit(batch: Record<string, ArrayLike<number>>, seed: number): Promise<StepResult> {
    const t = this.step++;
    const lr = lrAt(this.cfg.schedule, this.cfg.lr, t, this.cfg.totalSteps);
    const inputs: Record<string, ArrayLike<number>> = { ...batch, 'opt.lr': [lr] };
    if (this.plan.inputs.seed) inputs.seed = [seed >>> 0];
    if (this.cfg.optimizer.kind === 'adamw') {
      const b1 = this.cfg.optimizer.beta1 ?? 0.9;
      const b2 = this.cfg.optimizer.beta2 ?? 0.999;
      inputs['opt.bc1'] = [1 / (1 - b1 ** (t + 1))];
      inputs['opt.bc2'] = [1 / (1 - b2 ** (t + 1))];
    }
    for (const k of Object.keys(inputs)) if (!this.plan.inputs[k]) delete inputs[k];
    return this.ex.submit(inputs, [...this.lossNames, 'sqnorms'], this.writeBack).then((out) => this.check(t, lr, out));
  }

  private check(step: number, lr: number, out: Record<string, HostArray>): StepResult {
    const losses = Object.fromEntries(this.lossNames.map((k) => [k, out[k][0]]));
    const sq = out.sqnorms;
    for (let i = 0; i < sq.length; i++) if (!Number.isFinite(sq[i])) throw new NonFiniteError(step, `gradient of '${this.info.params[i]}'`);
    for (const [k, v] of Object.entries(losses)) if (!Number.isFinite(v)) throw new NonFiniteError(step, `output '${k}'`);
    let total = 0;
    for (let i = 0; i < sq.length; i++) total += sq[i];
    return { step, lr, losses, gradNorm: Math.sqrt(total) };
  }

  destroy(): void {
    this.ex.destroy();
  }
}
