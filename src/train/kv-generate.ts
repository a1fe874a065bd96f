/**
 * Greedy generation with a KV cache (compiler/lower/kv-cache.ts): the prefix (image and prompt)
 * runs once through the prefill plan, then each new token is one step of the step plan over the
 * cached keys and values, which stay in device buffers that trade places with the step's
 * updated caches (ping-pong). Token for token the same as recomputing the whole sequence
 * (test/train/kv-generate.test.ts); what it saves is the recomputation.
 */
import { compile } from '../compiler/compile.ts';
import { KV_INPUTS, kvName, kvNext } from '../compiler/lower/kv-cache.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import type { PlanOptions } from '../compiler/plan.ts';
import { DataError } from '../data/errors.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import type { Backend } from '../runtime/backend.ts';
import type { Gpu } from '../runtime/device.ts';
import { Executor } from '../runtime/executor.ts';
import type { WeightMap } from '../runtime/half.ts';
import { argmax } from '../runtime/metrics.ts';
import { profileOf } from '../runtime/profile.ts';
import type { DeviceProfile } from '../compiler/plan.ts';

export interface KvSettings {
  /** End-of-sequence id: a sequence that emits it is done. */
  eos: number;
  pad: number;
}

export class KvDecoder {
  private constructor(
    readonly spec: ModelSpec & { text: { kind: 'decoder'; maxLen: number; vocab: number; depth: number } },
    readonly batch: number,
    readonly prefill: Executor,
    readonly step: Executor,
    /** Cache positions: the prefix's and the text's. */
    readonly length: number,
    readonly prefix: number,
  ) {}

  /**
   * Plans for `spec` at `batch` on WebGPU (or on `o.backend`, planned for `o.profile`): the step
   * shares the prefill plan's weight buffers.
   */
  static async create(
    gpu: Gpu | null,
    spec: ModelSpec,
    batch: number,
    o: { plan?: PlanOptions; backend?: Backend; profile?: DeviceProfile } = {},
  ): Promise<KvDecoder> {
    const text = spec.text;
    if (text?.kind !== 'decoder' || spec.head.kind !== 'lm')
      throw new DataError('KV-cached generation needs a decoder text tower (GPT-2) and an lm head (vl.lm())');
    const profile = o.profile ?? profileOf(gpu!);
    const plan = (mode: { mode: 'prefill' } | { mode: 'step'; length: number }) =>
      compile(lowerModel(spec, { batch, mode: 'infer', loss: false, kv: mode }).graph, {
        batch,
        mode: 'infer',
        loss: false,
        profile,
        plan: o.plan,
      }).plan;
    const pre = plan({ mode: 'prefill' });
    const [, , length] = pre.outputs[kvName('k', 0)].shape;
    const stepPlan = plan({ mode: 'step', length });
    const on = (p: typeof pre, paramsFrom?: Executor) =>
      o.backend
        ? Executor.on(o.backend, p, { paramsFrom })
        : Executor.create(gpu!, p, undefined, { paramsFrom: paramsFrom as never });
    const prefill = await on(pre);
    const step = await on(stepPlan, prefill);
    // Each step's updated caches trade buffers with its cache inputs: the cache stays on the device.
    await step.pingPong(
      Object.keys(stepPlan.inputs)
        .filter((k) => /^kv\.[kv]\.\d+$/.test(k))
        .map((k) => [step.slotOf('outputs', kvNext(k)).buffer, step.rootOf(step.slotOf('inputs', k))]),
    );
    return new KvDecoder(spec as KvDecoder['spec'], batch, prefill, step, length, length - text.maxLen);
  }

  setWeights(w: WeightMap): void {
    for (const ex of [this.prefill, this.step])
      for (const name of Object.keys(ex.plan.params)) {
        const v = w[name];
        if (!v) throw new Error(`KvDecoder.setWeights: no value for param '${name}'`);
        ex.setParam(name, v);
      }
  }

  /**
   * Greedy continuation of each sequence of the batch: `inputs` are the prefill plan's (image,
   * and `tokens`/`mask` holding each sequence's prompt, empty when none); returns each
   * sequence's generated ids, without the end-of-sequence token.
   */
  async greedy(inputs: Record<string, ArrayLike<number>>, s: KvSettings): Promise<number[][]> {
    const { batch: B, length, prefix: n } = this;
    const { maxLen: L, vocab: V, depth } = this.spec.text;
    const prompt = Array.from({ length: B }, (_, b) => {
      let p = 0;
      while (p < L && inputs.mask[b * L + p]) p++;
      return p;
    });
    if (new Set(prompt).size > 1)
      throw new DataError(
        `KV-cached generation: the prompts of a batch must have one length, got ${[...new Set(prompt)].join(', ')}`,
      );
    const p = prompt[0];
    if (n + p === 0)
      throw new DataError('KV-cached generation needs a visual prefix or a prompt: nothing predicts the first token');
    const names = Array.from({ length: depth }, (_, i) => [kvName('k', i), kvName('v', i)]).flat();
    const feed = Object.fromEntries(Object.entries(inputs).filter(([k]) => this.prefill.plan.inputs[k]));
    const wants = [
      'logits',
      ...names,
      ...(this.prefill.plan.outputs[KV_INPUTS.visual] && this.step.plan.inputs[KV_INPUTS.visual]
        ? [KV_INPUTS.visual]
        : []),
    ];
    const out = await this.prefill.run(feed, wants);
    for (const k of names) this.step.setInput(k, out[k]);
    if (wants.includes(KV_INPUTS.visual)) this.step.setInput(KV_INPUTS.visual, out[KV_INPUTS.visual]);
    const ids: number[][] = Array.from({ length: B }, () => []);
    const done = new Array<boolean>(B).fill(false);
    // The prefill's logits at the last prompt position (or the prefix's last) predict the first token.
    const rows = length;
    let next = ids.map((_, b) => argmax(out.logits, (b * rows + n + p - 1) * V, V));
    const parents = Int32Array.from({ length: B }, (_, b) => b);
    for (let t = p; ; t++) {
      next.forEach((id, b) => {
        if (done[b]) return;
        if (id === s.eos) done[b] = true;
        else {
          ids[b].push(id);
          // The text is full: prompt and generated tokens fill the tower's maxLen.
          if (p + ids[b].length >= L) done[b] = true;
        }
      });
      if (done.every(Boolean)) break;
      // The new token sits at text position t, cache position n + t; it and all before it are attended.
      const mask = new Float32Array(B * length);
      for (let b = 0; b < B; b++) mask.fill(1, b * length, b * length + n + t + 1);
      const step = await this.step.run(
        {
          [KV_INPUTS.token]: Int32Array.from(next, (id, b) => (done[b] ? s.pad : id)),
          [KV_INPUTS.position]: [t],
          [KV_INPUTS.at]: [n + t],
          [KV_INPUTS.parents]: parents,
          [KV_INPUTS.mask]: mask,
        },
        ['logits'],
      );
      this.step.swap();
      next = ids.map((_, b) => argmax(step.logits, b * V, V));
    }
    return ids;
  }

  destroy(): void {
    this.step.destroy();
    this.prefill.destroy();
  }
}
