/**
 * The lowering context: backbones call `linear` and `sublayer` at named insertion points; the
 * PEFT methods whose `at` globs match a point rewrite it there. Parameters are declared here,
 * so trainability (freeze globs, full finetuning, BitFit) is decided in one place.
 */
import { STEP_INPUTS } from '../../step-inputs.ts';
import { Builder, type Tensor } from '../builder.ts';
import type { InitSpec } from '../ir/graph.ts';
import { dropout } from '../composites.ts';
import type { ModelSpec, PeftSpec } from '../../dsl/spec.ts';
import { matches } from '../../dsl/paths.ts';
import { attachesAt, methodFor } from './peft/registry.ts';

export type Mode = 'train' | 'infer';

export interface LowerOptions {
  batch: number;
  mode: Mode;
  /** Inference graph with MixPHM/AdaMix experts averaged and LoRA folded into W0 (mode 'infer'). */
  merged?: boolean;
  /** Also output each tower's final states and pooled feature (`vision.hidden`, `text.pooled`, ...). */
  features?: boolean;
  /**
   * Compute the task loss and regularizers, taking their targets as inputs. Default: in training
   * only; an inference graph asks for it to report a loss (the Evaluator's dev loss), while a
   * deployed one (an artifact, predict) takes no targets.
   */
  loss?: boolean;
  /**
   * Generation with a KV cache (decoder-only text towers, kv-cache.ts): 'prefill' also outputs
   * every self-attention layer's keys and values and the routed visual feature; 'step' is one
   * token per sequence over a cache of `length` positions.
   */
  kv?:
    | { mode: 'prefill' }
    | {
        mode: 'step';
        length: number /** An encoder-decoder's encoder length (its cross-attention cache). */;
        cross?: number;
      };
}

/** A MixPHM module's tensors, kept for the redundancy regularizer. */
export interface ModuleRecord {
  stack: string;
  path: string;
  /** Module input (the sublayer output), [B, L, d]. */
  h: Tensor;
  /** The module's added branch before the internal residual, [B, L, d]. */
  ha: Tensor;
}

export class Lowering {
  readonly b = new Builder();
  readonly seed: Tensor | null;
  /** The pooled visual feature x_R, [B, d], once the vision backbone has run. */
  visual: Tensor | null = null;
  readonly points = { linear: new Set<string>(), sublayer: new Set<string>(), bias: new Set<string>() };
  readonly modules: ModuleRecord[] = [];
  /** Each stack's final hidden state and token mask (the relevance term pools it). */
  readonly finals = new Map<string, { hidden: Tensor; mask: Tensor | null }>();

  constructor(
    readonly spec: ModelSpec,
    readonly opts: LowerOptions,
  ) {
    this.seed = opts.mode === 'train' ? this.b.input(STEP_INPUTS.seed, [], 'u32') : null;
  }

  get training(): boolean {
    return this.opts.mode === 'train';
  }

  get withLoss(): boolean {
    return this.opts.loss ?? this.training;
  }

  private frozen(name: string): boolean {
    if (
      this.spec.insertions.some((p) => {
        const m = methodFor(p);
        return m.attach === 'params' && m.unfreezes(p, name);
      })
    )
      return false;
    return (
      this.spec.freeze.length > 0 &&
      matches(this.spec.freeze, name) &&
      !(name.startsWith('head.') && !this.spec.freeze.some((f) => f.startsWith('head')))
    );
  }

  /** A backbone weight: trainable unless a freeze glob matches it (the task head only when named). */
  weight(name: string, shape: number[], init: InitSpec): Tensor {
    return this.b.param(name, shape, { trainable: !this.frozen(name), init });
  }

  /** A bias or norm shift: BitFit makes the matched ones trainable. */
  bias(name: string, shape: number[]): Tensor {
    this.points.bias.add(name.replace(/\.b$/, ''));
    return this.b.param(name, shape, { trainable: !this.frozen(name), init: { kind: 'zeros' }, noDecay: true });
  }

  normScale(name: string, shape: number[]): Tensor {
    return this.b.param(name, shape, { trainable: !this.frozen(name), init: { kind: 'ones' }, noDecay: true });
  }

  /**
   * A parameter a PEFT method adds: trainable unless `frozen` (LoRA-FA's A, VeRA's shared random
   * matrices: drawn from the run's seed, kept as they start; an adapter file then holds only the
   * trained ones, and its base's seed gives the rest back). Declaring a name twice shares it.
   * `noDecay`: no weight decay (biases, scales, magnitudes: values whose size is the point).
   */
  peftParam(name: string, shape: number[], init: InitSpec, o: { noDecay?: boolean; frozen?: boolean } = {}): Tensor {
    return this.b.param(name, shape, { trainable: !o.frozen, init, noDecay: o.noDecay ?? false });
  }

  insertionsAt(kind: 'linear' | 'sublayer', path: string): PeftSpec[] {
    return this.spec.insertions.filter((p) => attachesAt(p, kind) && 'at' in p && matches(p.at, path));
  }

  dropout(x: Tensor, p: number): Tensor {
    return this.training ? dropout(this.b, x, p, this.seed) : x;
  }
}
