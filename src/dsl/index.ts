/**
 * The typed DSL: builders that produce a plain-data ModelSpec.
 *
 *   vl.model({ vision: vl.vit({...}), text: vl.encoder({...}), visualPrefix: 'pooled', head: vl.classifier({...}) })
 *     .freeze('**')
 *     .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 4 }))
 *     .regularize(peft.redundancy({ red: 0.1, rel: 0.02 }))
 *
 * Paths are typed (LinearPath, SublayerPath), so a misspelled insertion point fails tsc.
 */
import { specPath } from './spec-dir.ts';
import type { z } from 'zod';
import {
  DecoderSpec,
  EncDecSpec,
  EncoderSpec,
  RedundancySpec,
  VitSpec,
  parsePart,
  parseSpec,
  type ModelSpec,
  type ModelSpecInput,
  type PeftSpec,
} from './spec.ts';
import { peftBuilders } from './peft/index.ts';

type In<T extends z.ZodType> = Omit<z.input<T>, 'kind' | 'method'>;

export class ModelBuilder {
  constructor(private readonly input: ModelSpecInput) {}

  /** Freeze backbone params matching the globs ('**': all; the task head only when named). */
  freeze(...globs: string[]): ModelBuilder {
    return new ModelBuilder({ ...this.input, freeze: [...(this.input.freeze ?? []), ...globs] });
  }

  insert(...methods: PeftSpec[]): ModelBuilder {
    return new ModelBuilder({ ...this.input, insertions: [...(this.input.insertions ?? []), ...methods] });
  }

  /** Redundancy regularization of the MixPHM modules (weights default to METHODS.md's). */
  regularize(r: Omit<z.input<typeof RedundancySpec>, 'kind'> = {}): ModelBuilder {
    return new ModelBuilder({
      ...this.input,
      regularizers: [...(this.input.regularizers ?? []), { ...r, kind: 'redundancy' }],
    });
  }

  /** Directories of the tokenizer (tokenizer.json) and image processor (preprocessor_config.json), when not the towers' own. */
  inputs(o: { tokenizer?: string; processor?: string }): ModelBuilder {
    const abs = Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v && specPath(v)]));
    return new ModelBuilder({ ...this.input, inputs: { ...(this.input.inputs ?? {}), ...abs } });
  }

  /**
   * Safetensors files (peftgraph param names, e.g. prefix.proj.W) that start those params instead
   * of the init seed: the parts of a jointly pretrained model outside its HF towers. A linear
   * weight W is [in, out], the transpose of torch's nn.Linear.weight.
   */
  init(...files: string[]): ModelBuilder {
    return new ModelBuilder({ ...this.input, init: [...(this.input.init ?? []), ...files.map(specPath)] });
  }

  /** The validated spec (plain data; JSON round-trips). */
  get spec(): ModelSpec {
    return parseSpec(this.input);
  }

  toJSON(): ModelSpec {
    return this.spec;
  }
}

export const vl = {
  // Paths that resolve against the spec file's directory go through builder methods (.inputs(), .init()).
  model: (m: Omit<ModelSpecInput, 'insertions' | 'freeze' | 'regularizers' | 'inputs' | 'init'>) => new ModelBuilder(m),
  vit: (o: In<typeof VitSpec>) => parsePart(VitSpec, { kind: 'vit', ...o }, 'vision'),
  encoder: (o: In<typeof EncoderSpec>) => parsePart(EncoderSpec, { kind: 'encoder', ...o }, 'text'),
  encdec: (o: In<typeof EncDecSpec>) => parsePart(EncDecSpec, { kind: 'encdec', ...o }, 'text'),
  decoder: (o: In<typeof DecoderSpec>) => parsePart(DecoderSpec, { kind: 'decoder', ...o }, 'text'),
  features: () => ({ kind: 'features' as const }),
  // The options pass through whole: the spec's schema refuses one it does not know (a head's `hidden`).
  classifier: (o: { answers: number; loss?: 'bce' | 'ce' }) => ({
    kind: 'classifier' as const,
    loss: 'bce' as const,
    ...o,
  }),
  lm: () => ({ kind: 'lm' as const }),
  regions: (o: { grid: [number, number]; classes: number }) => ({ kind: 'regions' as const, ...o }),
};

/** PEFT methods (options and builders: one module each in dsl/peft/; lowerings in compiler/lower/peft/). */
export const peft = {
  ...peftBuilders,
  redundancy: (o: Omit<z.input<typeof RedundancySpec>, 'kind'> = {}) =>
    parsePart(RedundancySpec, { kind: 'redundancy', ...o }, 'redundancy'),
};

export { parseSpec, type ModelSpec } from './spec.ts';
