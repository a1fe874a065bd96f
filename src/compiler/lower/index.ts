/**
 * Lowering a ModelSpec to IR: inputs, towers with PEFT insertions, head, task loss and
 * regularizers. Every `at` glob must match at least one insertion point; if one does not, the
 * error lists the valid points of that kind.
 */
import { checkKv, outputVisual } from './kv-cache.ts';
import type { Graph } from '../ir/graph.ts';
import type { Tensor } from '../builder.ts';
import { parseSpec, SpecError, type ModelSpec, type ModelSpecInput } from '../../dsl/spec.ts';
import { matches, summarizePaths } from '../../dsl/paths.ts';
import { Lowering, type LowerOptions } from './context.ts';
import { vitTower, type Tower } from './vision.ts';
import { visualPrefix } from './prefix.ts';
import { decoderStep, textDecoder, textEncoder } from './text.ts';
import { encoderDecoder, t5DecoderStep } from './t5.ts';
import { classifierHead, classifierLoss, nextTokenLoss, regionHead, regionLoss, seq2seqLoss } from './heads.ts';
import { redundancyLoss } from './regularizers.ts';
import { methodFor } from './peft/registry.ts';
import { paramInfo } from '../ir/attrs.ts';

export type { LowerOptions } from './context.ts';

export interface Lowered {
  graph: Graph;
  spec: ModelSpec;
  points: { linear: string[]; sublayer: string[]; bias: string[] };
}

/** Towers, head and task loss (null for head 'features'); outputs each tower's features on request. */
function lowerTask(ctx: Lowering): Tensor | null {
  const { spec, b } = ctx;
  // A cached decoding step: the decoder alone, over the cache (the prefix is in it already).
  const kv = ctx.opts.kv;
  if (kv?.mode === 'step') {
    checkKv(spec);
    const text = spec.text;
    if (text.kind === 'encdec') {
      if (kv.cross === undefined)
        throw new SpecError("an encoder-decoder's decoding step needs the encoder length (kv.cross)");
      b.output('logits', t5DecoderStep(ctx, text, kv.length, kv.cross));
    } else b.output('logits', decoderStep(ctx, text, kv.length));
    return null;
  }
  const towers: Record<string, Tower> = {};
  const vision = spec.vision ? vitTower(ctx, spec.vision) : null;
  if (vision) {
    towers.vision = vision;
    ctx.visual = vision.pooled;
    b.output('visual', vision.pooled);
  }
  const prefix = vision ? visualPrefix(ctx, vision) : null;
  // Routing reads the visual feature as the text stream sees it: the embedded prefix token when
  // the pooled prefix is projected to the text width (visualEmbed), else the pooled feature.
  if (prefix && spec.visualEmbed && spec.visualPrefix === 'pooled')
    ctx.visual = prefix.reshape([prefix.shape[0], prefix.shape[2]]);
  let pooled = vision?.pooled ?? null;
  let loss: Tensor | null = null;
  const text = spec.text;
  if (text?.kind === 'encoder') {
    towers.text = textEncoder(ctx, text, prefix);
    pooled = towers.text.pooled;
  } else if (text?.kind === 'decoder') {
    const dec = textDecoder(ctx, text, prefix);
    towers.text = dec;
    b.output('logits', dec.logits);
    if (kv?.mode === 'prefill') outputVisual(ctx);
    if (spec.head.kind === 'lm' && ctx.withLoss)
      loss = nextTokenLoss(ctx, dec.logits, dec.tokens, dec.textMask, prefix?.shape[1] ?? 0);
  } else if (text?.kind === 'encdec') {
    const out = encoderDecoder(ctx, text, prefix);
    towers.encoder = out.encoder;
    towers.decoder = out.decoder;
    pooled = out.decoder.pooled;
    if (out.logits) {
      b.output('logits', out.logits);
      if (kv?.mode === 'prefill') outputVisual(ctx);
      if (ctx.withLoss) loss = seq2seqLoss(ctx, out.logits, out.targetMask!);
    }
  }
  if (spec.head.kind === 'classifier') {
    const logits = classifierHead(ctx, pooled!, spec.head.answers);
    b.output('logits', logits);
    if (ctx.withLoss) loss = classifierLoss(ctx, logits, spec.head.loss);
  }
  if (spec.head.kind === 'regions' && vision && spec.vision) {
    const logits = regionHead(ctx, vision.hidden, spec.vision, spec.head.grid, spec.head.classes);
    b.output('logits', logits.reshape([ctx.opts.batch, logits.shape[1] * logits.shape[2]]));
    if (ctx.withLoss) loss = regionLoss(ctx, logits);
  }
  if (spec.head.kind === 'features' || ctx.opts.features) {
    for (const [name, t] of Object.entries(towers)) {
      b.output(`${name}.hidden`, t.hidden);
      b.output(`${name}.pooled`, t.pooled);
    }
  }
  return loss;
}

export function lowerModel(input: ModelSpec | ModelSpecInput, opts: LowerOptions): Lowered {
  const spec = parseSpec(input);
  // Untyped callers: a missing batch or mode would surface as a NaN shape deep in a tower.
  if (!Number.isInteger(opts?.batch) || opts.batch < 1)
    throw new SpecError(`lowerModel: batch is ${opts?.batch}; it takes a whole number >= 1`);
  if (opts.mode !== 'train' && opts.mode !== 'infer')
    throw new SpecError(`lowerModel: mode is ${JSON.stringify(opts.mode)}; valid: 'train', 'infer'`);
  if (opts.merged && opts.mode !== 'infer') throw new SpecError("merged graphs are inference graphs: use mode 'infer'");
  if (spec.head.kind === 'features' && opts.mode === 'train')
    throw new SpecError("head 'features' has no loss to train: use mode 'infer', or head 'classifier' or 'lm'");
  if (opts.mode === 'train' && opts.loss === false)
    throw new SpecError('a training graph needs its loss (loss: false is for inference)');
  const ctx = new Lowering(spec, opts);
  const b = ctx.b;
  const taskLoss = lowerTask(ctx);
  // A cached decoding step holds the decoder alone: the spec's globs are checked against the whole model.
  if (opts.kv?.mode !== 'step') checkInsertions(spec, ctx.points, [...b.g.params().keys()]);
  if (!taskLoss) {
    if (spec.head.kind === 'features' && spec.regularizers.length)
      throw new SpecError("regularizers: head 'features' has no loss to regularize");
  } else {
    let loss = taskLoss;
    for (const r of spec.regularizers) {
      const reg = redundancyLoss(ctx, r);
      if (!reg) throw new SpecError('regularizers: redundancy regularization needs at least one MixPHM insertion');
      b.output('loss_red', reg.red);
      b.output('loss_rel', reg.rel);
      loss = loss.add(reg.total);
    }
    b.output('loss_task', taskLoss);
    b.output('loss', loss);
    if (opts.mode === 'train' && ![...b.g.params().values()].some((n) => paramInfo(n).trainable)) {
      throw new SpecError(
        'nothing to train: every param is frozen and no PEFT method is inserted (add an insertion, or freeze less)',
      );
    }
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return {
    graph: b.g,
    spec,
    points: { linear: sorted(ctx.points.linear), sublayer: sorted(ctx.points.sublayer), bias: sorted(ctx.points.bias) },
  };
}

/**
 * Every glob must select something, as a typo otherwise changes the model silently: each entry
 * of an insertion's `at` (against the points of its kind) and each `freeze` glob (against the
 * params). Two insertions of one method at the same point are refused unless intended (a second
 * LoRA on q must say so through distinct settings).
 */
function checkInsertions(spec: ModelSpec, points: Lowering['points'], params: string[]): void {
  const seen = new Map<string, number>();
  spec.insertions.forEach((p, i) => {
    if (!('at' in p)) return;
    const attach = methodFor(p).attach;
    // Methods that only change which params train (BitFit) select params; the others, points.
    const kind = attach === 'params' ? 'param' : attach;
    const pool = attach === 'params' ? params : [...points[attach]];
    for (const glob of Array.isArray(p.at) ? p.at : [p.at]) {
      if (!pool.some((x) => matches(glob, x))) {
        throw new SpecError(
          `insertions.${i} (${p.method}): 'at' entry ${JSON.stringify(glob)} matches no ${kind}${attach === 'params' ? '' : ' insertion point'}.\n  valid ${kind}${attach === 'params' ? 's' : ' points'}: ${summarizePaths(pool).join(', ')}`,
        );
      }
    }
    if (attach === 'params') return;
    for (const point of pool.filter((x) => matches(p.at, x))) {
      const key = `${p.method} ${point}`;
      const other = seen.get(key);
      if (other !== undefined && JSON.stringify(spec.insertions[other]) === JSON.stringify(p)) {
        throw new SpecError(
          `insertions.${i} (${p.method}) repeats insertions.${other} at '${point}': the same module twice at one point is a mistake more often than not; remove one`,
        );
      }
      seen.set(key, i);
    }
  });
  spec.freeze.forEach((glob, i) => {
    if (!params.some((n) => matches(glob, n))) {
      const roots = [...new Set(params.map((n) => n.split('.')[0]))];
      throw new SpecError(
        `freeze.${i}: ${JSON.stringify(glob)} matches no param (param roots: ${roots.map((r) => `${r}.**`).join(', ')})`,
      );
    }
  });
}
