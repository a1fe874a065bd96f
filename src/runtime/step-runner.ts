/**
 * Running a compiled training step (compiler-free, so artifacts use it too): per step, the
 * learning rate and bias corrections as inputs, one submission, updated params and optimizer
 * state made current by trading buffers (no copies), and an asynchronous readback of the losses
 * and squared gradient norms, checked for non-finite values.
 */
import { UserError } from '../user-error.ts';
import type { OptimizerConfig } from '../compiler/optimizer.ts';
import type { Executor, HostArray } from './executor.ts';
import { lrAt, type Schedule } from './schedule.ts';

export interface StepSpec {
  optimizer: OptimizerConfig;
  lr: number;
  schedule: Schedule;
  totalSteps: number;
}

export interface StepLayout {
  /** Trainable params, in the order of the `sqnorms` output. */
  params: string[];
  /** Optimizer state inputs (m:<p>, v:<p> or u:<p>). */
  state: string[];
  lossNames: string[];
  /** output -> the param or input slot it updates (the two trade places after each step). */
  writeBack: [string, { kind: 'params' | 'inputs'; name: string }][];
}

export interface StepResult {
  step: number;
  lr: number;
  losses: Record<string, number>;
  gradNorm: number;
}

export class NonFiniteError extends UserError {
  constructor(
    readonly step: number,
    readonly tensor: string,
  ) {
    super(step >= 0 ? `non-finite value at step ${step}: ${tensor}. Lower the learning rate, enable clipping, or check the inputs.` : `non-finite value: ${tensor}`);
    this.name = 'NonFiniteError';
  }
}

export class StepRunner {
  step = 0;

  constructor(
    readonly ex: Executor,
    readonly layout: StepLayout,
    readonly spec: StepSpec,
  ) {
    // Updated params and state are not copied back: each trades places with its output after a
    // step (ping-pong), so the next step reads them where this one wrote them.
    ex.pingPong(layout.writeBack.map(([out, dst]) => [ex.slotOf('outputs', out).buffer, ex.slotOf(dst.kind, dst.name).buffer]));
    this.resetState();
  }

  /** Zeroes the optimizer state (a fresh run). */
  resetState(): void {
    for (const s of this.layout.state) this.ex.setInput(s, new Float32Array(this.ex.slotOf('inputs', s).shape.reduce((p, q) => p * q, 1)));
    this.step = 0;
  }

  setState(state: Record<string, ArrayLike<number>>): void {
    for (const s of this.layout.state) {
      if (!state[s]) throw new Error(`setState: no optimizer state '${s}'`);
      this.ex.setInput(s, state[s]);
    }
  }

  readState(): Promise<Record<string, Float32Array>> {
    return this.ex.readSlots('inputs', this.layout.state);
  }

  /** Submits one step; resolves with its losses once the GPU has run it. Rejects with NonFiniteError. */
  submit(batch: Record<string, ArrayLike<number>>, seed: number): Promise<StepResult> {
    const t = this.step++;
    const { optimizer } = this.spec;
    const lr = lrAt(this.spec.schedule, this.spec.lr, t, this.spec.totalSteps);
    const inputs: Record<string, ArrayLike<number>> = { ...batch, 'opt.lr': [lr], seed: [seed >>> 0] };
    if (optimizer.kind === 'adamw') {
      inputs['opt.bc1'] = [1 / (1 - (optimizer.beta1 ?? 0.9) ** (t + 1))];
      inputs['opt.bc2'] = [1 / (1 - (optimizer.beta2 ?? 0.999) ** (t + 1))];
    }
    for (const k of Object.keys(inputs)) if (!this.ex.plan.inputs[k]) delete inputs[k];
    const done = this.ex.submit(inputs, [...this.layout.lossNames, 'sqnorms']);
    this.ex.swap();
    return done.then((out) => this.check(t, lr, out));
  }

  private check(step: number, lr: number, out: Record<string, HostArray>): StepResult {
    const losses = Object.fromEntries(this.layout.lossNames.map((k) => [k, out[k][0]]));
    const sq = out.sqnorms;
    let total = 0;
    for (let i = 0; i < sq.length; i++) {
      if (!Number.isFinite(sq[i])) throw new NonFiniteError(step, `gradient of '${this.layout.params[i]}'`);
      total += sq[i];
    }
    for (const [k, v] of Object.entries(losses)) if (!Number.isFinite(v)) throw new NonFiniteError(step, `output '${k}'`);
    return { step, lr, losses, gradNorm: Math.sqrt(total) };
  }
}
