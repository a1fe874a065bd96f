/**
 * KV-cached generation for a spec (runtime/kv-decode.ts): compiles the prefill and step plans of
 * its decoder LM and loads them, the step sharing the prefill's weight buffers. Token for token
 * the same as recomputing the whole sequence (test/train/kv-generate.test.ts); what it saves is
 * the recomputation (bench/results/generate.md).
 */
import { compile } from '../compiler/compile.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import type { DeviceProfile, PlanOptions } from '../compiler/plan.ts';
import { DataError } from '../data/errors.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { kvCross, kvName } from '../kv-inputs.ts';
import type { Backend } from '../runtime/backend.ts';
import type { Gpu } from '../runtime/device.ts';
import { Executor, type GpuExecutor } from '../runtime/executor.ts';
import { CachedDecoder, type DecoderShape } from '../runtime/kv-decode.ts';
import { profileOf } from '../runtime/profile.ts';

export { CachedDecoder, type KvSettings } from '../runtime/kv-decode.ts';

/** The prefill and step plans of `spec`'s decoder LM at `batch` (`merged`: over merged weights, as a merged artifact holds them). */
export function kvPlans(spec: ModelSpec, batch: number, profile: DeviceProfile, plan?: PlanOptions, merged = false) {
  const text = spec.text;
  if ((text?.kind !== 'decoder' && text?.kind !== 'encdec') || spec.head.kind !== 'lm')
    throw new DataError(
      'KV-cached generation needs a decoder text tower (GPT-2) or an encoder-decoder (T5), and an lm head (vl.lm())',
    );
  const compiled = (mode: { mode: 'prefill' } | { mode: 'step'; length: number; cross?: number }) =>
    compile(lowerModel(spec, { batch, mode: 'infer', loss: false, kv: mode, merged }).graph, {
      batch,
      mode: 'infer',
      loss: false,
      profile,
      plan,
    }).plan;
  const prefill = compiled({ mode: 'prefill' });
  const [, , length] = prefill.outputs[kvName('k', 0)].shape;
  const cross = prefill.outputs[kvCross('k', 0)]?.shape[2];
  // T5's decoder generates its targets, starting from the start token the prompt inputs hold.
  const shape: DecoderShape =
    text.kind === 'encdec'
      ? { maxLen: text.targetLen, vocab: text.vocab, prompt: { tokens: 'targetTokens', mask: 'targetMask' } }
      : { maxLen: text.maxLen, vocab: text.vocab };
  return { prefill, step: compiled({ mode: 'step', length, cross }), text: shape };
}

export const KvDecoder = {
  /**
   * The cached decoder of `spec` at `batch` on WebGPU (or on `o.backend`, planned for
   * `o.profile`): the step shares the prefill plan's weight buffers.
   */
  async create(
    gpu: Gpu | null,
    spec: ModelSpec,
    batch: number,
    o: { plan?: PlanOptions; backend?: Backend; profile?: DeviceProfile } = {},
  ): Promise<CachedDecoder> {
    const p = kvPlans(spec, batch, o.profile ?? profileOf(gpu!), o.plan);
    if (o.backend) {
      const prefill = await Executor.on(o.backend, p.prefill);
      return CachedDecoder.over(prefill, await Executor.on(o.backend, p.step, { paramsFrom: prefill }), p.text);
    }
    const prefill: GpuExecutor = await Executor.create(gpu!, p.prefill);
    return CachedDecoder.over(prefill, await Executor.create(gpu!, p.step, undefined, { paramsFrom: prefill }), p.text);
  },
};
