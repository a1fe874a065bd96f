/**
 * Running a compiled training step (compiler-free, so artifacts use it too): per step, the
 * learning rate and bias corrections as inputs, one submission, updated params and optimizer
 * state made current by trading buffers (no copies), and an asynchronous readback of the losses
 * and squared gradient norms, checked for non-finite values.
 */
import { STEP_INPUTS } from '../step-inputs.ts';
import { UserError } from '../user-error.ts';
import type { OptimizerConfig, PackLayout } from '../compiler/optimizer.ts';
import type { Executor, HostArray } from './executor.ts';
import { lrAt, type Schedule } from './schedule.ts';

export interface StepSpec {
  optimizer: OptimizerConfig;
  lr: number;
  schedule: Schedule;
  totalSteps: number;
}

export interface StepLayout {
  /** Trainable params, in the order of the `sqnorms` output's rows. */
  params: string[];
  /** Optimizer state per param, as checkpoints hold it (m:<p>, v:<p> or u:<p>). */
  state: string[];
  /** The packs the step updates (params and states as one buffer each; compiler/optimizer.ts). */
  packs: PackLayout[];
  /** Rows of `sqnorms` per param. */
  normRows: number[];
  lossNames: string[];
  /** output -> the param or input slot whose whole buffer it updates (the two trade places after each step). */
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
    super(
      step >= 0
        ? `non-finite value at step ${step}: ${tensor}. Lower the learning rate, enable clipping, or check the inputs.`
        : `non-finite value: ${tensor}`,
    );
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
    // A pack's params must be laid out in one buffer as the update kernel sees them (the fusion
    // pass writes packs in place); trading that buffer then updates every param in it.
    for (const pack of layout.packs) {
      const root = ex.rootOf(ex.slotOf('params', pack.members[0].param));
      for (const m of pack.members) {
        const s = ex.slotOf('params', m.param);
        if (ex.rootOf(s) !== root || ex.offsetOf(s) !== m.offset * 4)
          throw new Error(
            `step plan: param '${m.param}' is not at element ${m.offset} of ${pack.name}'s buffer (a pack not written in place)`,
          );
      }
    }
    this.ready = ex.pingPong(
      layout.writeBack.map(([out, dst]) => [
        ex.slotOf('outputs', out).buffer,
        ex.rootOf(ex.slotOf(dst.kind, dst.name)),
      ]),
    );
    this.resetState();
  }

  /** Resolves once the ping-pong arrangement is prepared: await it before the first step. */
  readonly ready: Promise<void>;

  /** Zeroes the optimizer state (a fresh run). */
  resetState(): void {
    for (const pack of this.layout.packs)
      for (const s of pack.state) this.ex.setInput(s, new Float32Array(pack.elements));
    this.step = 0;
  }

  /** Sets the optimizer state from per-param tensors (a checkpoint's m:<p>, v:<p>...), packed as the step holds it. */
  setState(state: Record<string, ArrayLike<number>>): void {
    for (const pack of this.layout.packs)
      pack.kinds.forEach((kind, i) => {
        const packed = new Float32Array(pack.elements);
        for (const m of pack.members) {
          const v = state[`${kind}:${m.param}`];
          if (!v) throw new Error(`setState: no optimizer state '${kind}:${m.param}'`);
          if (v.length !== m.numel)
            throw new Error(
              `setState: optimizer state '${kind}:${m.param}' has ${v.length} values, the param has ${m.numel}`,
            );
          packed.set(v, m.offset);
        }
        this.ex.setInput(pack.state[i], packed);
      });
  }

  /** The optimizer state per param (m:<p>, v:<p>...), read in one submission. */
  async readState(): Promise<Record<string, Float32Array>> {
    const packed = await this.ex.readSlots(
      'inputs',
      this.layout.packs.flatMap((p) => p.state),
    );
    const out: Record<string, Float32Array> = {};
    for (const pack of this.layout.packs)
      pack.kinds.forEach((kind, i) => {
        for (const m of pack.members)
          out[`${kind}:${m.param}`] = packed[pack.state[i]].slice(m.offset, m.offset + m.numel);
      });
    return out;
  }

  /** Submits one step; resolves with its losses once the GPU has run it. Rejects with NonFiniteError. */
  submit(batch: Record<string, ArrayLike<number>>, seed: number): Promise<StepResult> {
    const t = this.step++;
    const { optimizer } = this.spec;
    const lr = lrAt(this.spec.schedule, this.spec.lr, t, this.spec.totalSteps);
    const inputs: Record<string, ArrayLike<number>> = {
      ...batch,
      [STEP_INPUTS.lr]: [lr],
      [STEP_INPUTS.seed]: [seed >>> 0],
    };
    if (optimizer.kind === 'adamw') {
      inputs[STEP_INPUTS.bc1] = [1 / (1 - (optimizer.beta1 ?? 0.9) ** (t + 1))];
      inputs[STEP_INPUTS.bc2] = [1 / (1 - (optimizer.beta2 ?? 0.999) ** (t + 1))];
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
    let row = 0;
    this.layout.normRows.forEach((rows, i) => {
      for (const end = row + rows; row < end; row++) {
        if (!Number.isFinite(sq[row])) throw new NonFiniteError(step, `gradient of '${this.layout.params[i]}'`);
        total += sq[row];
      }
    });
    for (const [k, v] of Object.entries(losses))
      if (!Number.isFinite(v)) throw new NonFiniteError(step, `output '${k}'`);
    return { step, lr, losses, gradNorm: Math.sqrt(total) };
  }
}
