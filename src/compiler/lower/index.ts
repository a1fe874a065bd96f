/**
 * Lowering a ModelSpec to IR: inputs, backbones with PEFT insertions, head, task loss and
 * regularizers. Every `at` glob must match at least one insertion point; if one does not, the
 * error lists the valid points of that kind.
 */
import type { Graph } from '../ir/graph.ts';
import { bceWithLogits, crossEntropy } from '../composites.ts';
import { parseSpec, SpecError, type ModelSpec, type ModelSpecInput } from '../../dsl/spec.ts';
import { matches, summarizePaths } from '../../dsl/paths.ts';
import { Lowering, type LowerOptions } from './context.ts';
import { classifierHead, encoderDecoder, textEncoder, vit } from './backbones.ts';
import { redundancyLoss } from './regularizers.ts';

export type { LowerOptions } from './context.ts';

export interface Lowered {
  graph: Graph;
  spec: ModelSpec;
  points: { linear: string[]; sublayer: string[]; bias: string[] };
}

export function lowerModel(input: ModelSpec | ModelSpecInput, opts: LowerOptions): Lowered {
  const spec = parseSpec(input);
  if (opts.merged && opts.mode !== 'infer') throw new SpecError("merged graphs are inference graphs: use mode 'infer'");
  const ctx = new Lowering(spec, opts);
  const b = ctx.b;
  const B = opts.batch;
  let taskLoss;
  if (spec.text.kind === 'encdec') {
    const { logits, targetMask } = encoderDecoder(ctx, spec.text);
    b.output('logits', logits);
    const labels = b.input('targetLabels', logits.shape.slice(0, 2), 'i32');
    taskLoss = b.scope('loss', () => {
      // Token-level cross-entropy over valid target tokens.
      const [Bq, T, V] = logits.shape;
      const lsm = logits.sub(logits.max([2], true));
      const logp = lsm.sub(lsm.exp().sum([2], true).log());
      const iota = b.constant([...Array(V).keys()], [V]);
      const onehot = b.cast(labels, 'f32').reshape([Bq, T, 1]).eq(iota);
      const nll = logp.mul(onehot).sum([2]).neg();
      return nll.mul(targetMask).sum().div(targetMask.sum());
    });
  } else {
    ctx.visual = spec.vision ? vit(ctx, spec.vision) : null;
    if (ctx.visual) b.output('visual', ctx.visual);
    const pooled = textEncoder(ctx, spec.text, spec.visualPrefix === 'pooled' ? ctx.visual : null);
    if (spec.head.kind !== 'classifier') throw new SpecError(`head: an encoder text backbone needs head.kind 'classifier' (valid: 'classifier'; 'lm' needs an 'encdec' text backbone)`);
    const logits = classifierHead(ctx, pooled, spec.head.answers);
    b.output('logits', logits);
    taskLoss =
      spec.head.loss === 'bce'
        ? b.scope('loss', () => bceWithLogits(b, logits, b.input('targets', [B, (spec.head as { answers: number }).answers])))
        : b.scope('loss', () => crossEntropy(b, logits, b.input('labels', [B], 'i32')));
  }
  checkInsertions(spec, ctx.points);
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
  const sorted = (s: Set<string>) => [...s].sort();
  return { graph: b.g, spec, points: { linear: sorted(ctx.points.linear), sublayer: sorted(ctx.points.sublayer), bias: sorted(ctx.points.bias) } };
}

function checkInsertions(spec: ModelSpec, points: Lowering['points']): void {
  spec.insertions.forEach((p, i) => {
    if (!('at' in p)) return;
    const kind = p.method === 'lora' ? 'linear' : p.method === 'bitfit' ? 'bias' : 'sublayer';
    const pool = [...points[kind]];
    const probe = p.method === 'bitfit' ? pool.map((x) => `${x}.b`) : pool;
    if (!probe.some((x) => matches(p.at, x))) {
      throw new SpecError(
        `insertions.${i} (${p.method}): 'at' ${JSON.stringify(p.at)} matches no ${kind} insertion point.\n` +
          `  valid ${kind} points: ${summarizePaths(pool).join(', ')}`,
      );
    }
  });
}
