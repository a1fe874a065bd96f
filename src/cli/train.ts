/** `peftgraph train`: compile a spec, train it with progress, write checkpoints, history and a curve. */
import { makeDirs } from '../runtime/files.ts';
import { writeAtomic } from '../runtime/safetensors.ts';
import { lockDir } from '../runtime/out-lock.ts';
import { DataError } from '../data/errors.ts';
import { existsSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { acquireDevice } from '../runtime/device.ts';
import type { FrozenWeights } from '../compiler/plan.ts';
import { Evaluator, formatEvaluation, metricName, train, type TrainConfig } from '../train/trainer.ts';
import type { CacheReport } from '../train/feature-cache.ts';
import { paramReport, formatReport } from '../compiler/params-report.ts';
import { lowerModel } from '../compiler/lower/index.ts';
import { loadData, loadSpec } from './load.ts';
import { tuningLine, tuningMode } from './flags.ts';
import { writeCurves } from './plot.ts';
import { STEP_LOG, readStepLog } from '../train/step-log.ts';
import { ADAPTER_FILE, CARD_FILE, saveAdapter, writeAdapterCard } from '../train/adapter.ts';
import { initialWeights } from '../runtime/init.ts';
import { exportMerged } from '../train/export.ts';
import { formatImport, pretrainedWeights } from '../hf/import.ts';
import { formatInitFiles } from '../runtime/init-files.ts';
import { holdsQuestions, isVqaData, loadVqaData, writesAnswers } from './vqa-data.ts';
import { loadCaptionData, readsCaptions } from './caption-data.ts';
import { formatCaptionScores } from '../data/caption-metrics.ts';
import { answerScores } from '../runtime/metrics.ts';
import { normalizeAnswer, rankAnswers } from '../data/answers.ts';

export interface TrainCliOptions {
  data: string;
  dev?: string;
  test?: string;
  k?: number;
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  evalEvery: number;
  patience: number;
  optimizer: 'adamw' | 'sgd';
  weightDecay: number;
  clip: number;
  warmup: number;
  schedule: 'linear' | 'cosine' | 'constant';
  out: string;
  resume?: string;
  allowMismatch?: boolean;
  /** commander's --no-cache-frozen. */
  cacheFrozen?: boolean;
  /** --autotune, and commander's --no-tuned-kernels. */
  autotune?: boolean;
  tunedKernels?: boolean;
  frozenWeights?: FrozenWeights;
  allowOutsideData?: boolean;
  /** Replace the run already in --out (its checkpoints, logs, answers and curves). */
  overwrite?: boolean;
}

/** The files a run writes in its output directory. */
const RUN_FILES = [
  'best.safetensors',
  'last.safetensors',
  ADAPTER_FILE,
  CARD_FILE,
  'merged.safetensors',
  'answers.json',
  'history.json',
  'test.json',
  STEP_LOG,
  'curve.svg',
  'curve.png',
];

/**
 * A run writes into a directory of its own: one holding another run's files is refused (a failed
 * rerun once left the old best and adapter beside new answers and an emptied step log), unless
 * --overwrite replaces them, or it is the directory of the run --resume continues.
 */
function claimOutDir(out: string, o: TrainCliOptions): void {
  const there = otherRun(out, o);
  for (const f of there) rmSync(join(out, f));
}

/** The files of another run in `out` that --overwrite would replace; without it, an error (checked before any work). */
function otherRun(out: string, o: TrainCliOptions): string[] {
  const there = RUN_FILES.filter((f) => existsSync(join(out, f)));
  if (there.length === 0) return [];
  if (o.resume && resolve(dirname(o.resume)) === resolve(out)) return [];
  if (!o.overwrite)
    throw new DataError(
      `--out ${out} holds another run (${there.join(', ')}): choose a new directory, ${o.resume ? `resume into ${dirname(o.resume)}, ` : ''}or pass --overwrite to replace it`,
    );
  return there;
}

export async function trainCommand(specPath: string, o: TrainCliOptions): Promise<number> {
  // Another run in --out is refused before the data, the towers and the GPU are touched.
  if (o.out) otherRun(o.out, o);
  const spec = await loadSpec(specPath);
  const seed = Number(o.seed);
  const files = isVqaData(o.data);
  // Files for an LM head (GPT-2 or T5) are captions, or for T5 also questions it answers in words; for a classifier, VQA records.
  const captions =
    files && readsCaptions(spec) && !(writesAnswers(spec) && holdsQuestions(o.data))
      ? await loadCaptionData(spec, {
          data: o.data,
          dev: o.dev,
          test: o.test,
          allowOutside: !!o.allowOutsideData,
          k: o.k,
          seed,
        })
      : null;
  if (captions) console.log(captions.report.join('\n'));
  const vqa =
    files && !captions
      ? await loadVqaData(spec, {
          data: o.data,
          dev: o.dev,
          test: o.test,
          k: o.k,
          seed,
          allowOutside: !!o.allowOutsideData,
        })
      : null;
  if (vqa) console.log(vqa.report.join('\n'));
  if (!files && o.k !== undefined)
    throw new DataError(
      `--k draws k-shot splits from VQA files; ${o.data} is a data module, which makes its own splits (drop --k)`,
    );
  const data = vqa ?? captions ?? (await loadData(o.data, seed));
  const cfg: TrainConfig = {
    epochs: Number(o.epochs),
    batch: Number(o.batch),
    lr: Number(o.lr),
    seed,
    optimizer:
      o.optimizer === 'sgd'
        ? { kind: 'sgd', momentum: 0.9, weightDecay: Number(o.weightDecay), clip: Number(o.clip) }
        : { kind: 'adamw', weightDecay: Number(o.weightDecay), clip: Number(o.clip), eps: 1e-6 },
    schedule: o.schedule === 'constant' ? { kind: 'constant' } : { kind: o.schedule, warmup: Number(o.warmup) },
    evalEvery: Number(o.evalEvery),
    patience: Number(o.patience),
    minDelta: 0,
    outDir: o.out,
    resume: o.resume,
    allowMismatch: !!o.allowMismatch,
    cacheFrozen: o.cacheFrozen !== false,
    autotune: tuningMode(o),
    plan: { frozenWeights: o.frozenWeights ?? 'f32' },
    inputs: vqa?.inputs ?? captions?.inputs ?? {},
  };
  const trainGraph = lowerModel(spec, { batch: cfg.batch, mode: 'train' }).graph;
  console.log(formatReport(paramReport(trainGraph), 'model'));
  // Pretrained towers: their weights are the frozen backbone (and the start of full finetuning).
  // Frozen weights kept in 16 bits on the device: F16/BF16 checkpoints stay 16-bit on the host too.
  const pre =
    cfg.plan?.frozenWeights !== 'f32'
      ? pretrainedWeights(spec, trainGraph, { keep16: true })
      : pretrainedWeights(spec, trainGraph);
  if (pre.plans.length || pre.init.length)
    console.log(
      [...formatImport(pre.plans), ...formatInitFiles(pre.init), `imported in ${pre.seconds.toFixed(1)} s`].join('\n'),
    );
  cfg.backbone = pre.weights;
  const gpu = await acquireDevice();
  console.log(`adapter: ${gpu.info.description}${gpu.info.isSoftware ? ' (software)' : ''}`);
  if (!o.out) throw new DataError('--out names no directory');
  if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new DataError(`--out ${o.out}: not a directory`);
  makeDirs(o.out);
  // One writer per output directory for the whole command (train() takes the lock again inside).
  const unlock = lockDir(o.out);
  try {
    claimOutDir(o.out, o);
  } catch (e) {
    unlock();
    throw e;
  }
  // The answer classes, in head order: predict and eval read them back (and checkpoints bind their hash).
  if (vqa?.vocab.size) writeAtomic(join(o.out, 'answers.json'), Buffer.from(JSON.stringify(vqa.vocab.answers)));
  const bar = new cliProgress.SingleBar(
    {
      format: `epoch {epoch}/{epochs} [{bar}] {value}/{total} steps | loss {loss} | {rate} steps/s | eta {eta_formatted} | dev ${data.dev?.captions ? 'CIDEr-D' : 'acc'} {dev}`,
      etaBuffer: 50,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5000,
    },
    cliProgress.Presets.shades_classic,
  );
  const total = Math.floor(data.train.examples.length / cfg.batch) * cfg.epochs;
  const t0 = performance.now();
  let dev = '-';
  // The bar starts with the first step: what comes before (the feature cache) prints plainly.
  let started = false;
  let ran = 0;
  try {
    const res = await train(gpu, spec, { train: data.train, dev: data.dev }, cfg, {
      onCache: (r) => console.log(formatCache(r)),
      onTuning: (r) => console.log(tuningLine(r)),
      onStep: (r, epoch) => {
        if (!started) bar.start(total, 0, { epoch: 1, epochs: cfg.epochs, loss: '-', rate: '-', dev });
        started = true;
        bar.update(r.step + 1, {
          epoch: epoch + 1,
          loss: r.losses.loss.toFixed(4),
          rate: ((r.step + 1) / ((performance.now() - t0) / 1000)).toFixed(1),
          dev,
        });
      },
      onEpoch: (r) => {
        ran++;
        if (r.dev) dev = r.dev.accuracy.toFixed(3);
        // The bar's last draw came before this evaluation: show it now, not with the next step.
        if (started) bar.update({ dev });
      },
    });
    bar.stop();
    const secs = (performance.now() - t0) / 1000;
    writeAtomic(join(o.out, 'history.json'), Buffer.from(JSON.stringify(res.history, null, 1)));
    await writeCurves(o.out, res.history, readStepLog(join(o.out, STEP_LOG)), `${specPath}: training`);
    const resumed =
      res.history.length !== ran
        ? ` (${res.history.length} in all, with the ${res.history.length - ran} before the resume)`
        : '';
    console.log(`trained ${ran} epochs in ${secs.toFixed(1)} s${resumed}${res.stoppedEarly ? ' (early stop)' : ''}`);
    const metric = metricName(spec, !!(data.dev?.captions ?? data.test?.captions));
    if (res.best)
      console.log(`best dev ${metric.accuracy} ${res.best.accuracy.toFixed(4)} at epoch ${res.best.epoch + 1}`);
    const frozen = initialWeights(lowerModel(spec, { batch: cfg.batch, mode: 'infer' }).graph, seed, pre.weights);
    const about = { data: `--data ${o.data}${o.k ? ` (a k-shot draw: k ${o.k}, seed ${seed})` : ''}` };
    const saved = saveAdapter(o.out, res, { ...about, answers: vqa?.vocab.size ? vqa.vocab.answers : undefined });
    console.log(
      `adapter (trainable weights, spec, base identity, card): ${saved.values.toLocaleString('en-US')} values -> ${o.out}/${ADAPTER_FILE}, ${CARD_FILE}`,
    );
    const count = exportMerged(join(o.out, 'merged.safetensors'), spec, { ...frozen, ...res.bestWeights }, cfg.batch);
    console.log(`merged inference weights: ${count.toLocaleString('en-US')} values -> ${o.out}/merged.safetensors`);
    if (data.test) {
      const ev = await Evaluator.create(gpu, spec, cfg.batch, cfg.plan);
      try {
        ev.setWeights({ ...frozen, ...res.bestWeights });
        const t = await ev.evaluate(data.test, 'test');
        console.log(formatEvaluation('test', metric, t, data.test.examples.length));
        if (t.captions) {
          console.log(formatCaptionScores('test', t.captions));
          // A few generated captions beside one of their references.
          t.captions.generated.slice(0, 4).forEach((c, i) => {
            const rec = captions?.testRecords?.[i];
            console.log(
              `  ${rec ? basename(rec.image) : `#${i}`}: "${c}"${rec ? `; reference: "${rec.captions[0]}"` : ''}`,
            );
          });
        }
        writeAtomic(join(o.out, 'test.json'), Buffer.from(JSON.stringify(t, null, 1)));
        writeAdapterCard(o.out, res, {
          ...about,
          values: saved.values,
          test: { ...t, examples: data.test.examples.length },
        });
        if (vqa?.testRecords && spec.head.kind === 'classifier') {
          const loss = spec.head.loss;
          const shown = { examples: data.test.examples.slice(0, 4) };
          for await (const { out, start, valid } of ev.batches(shown, ['logits'])) {
            for (let i = 0; i < valid; i++) {
              const rec = vqa.testRecords[start + i];
              const [best] = rankAnswers(
                answerScores(Array.from(out.logits).slice(i * vqa.vocab.size, (i + 1) * vqa.vocab.size), loss),
                vqa.vocab.answers,
                1,
              );
              console.log(
                `  ${basename(rec.image)}: "${rec.question}" -> ${best.answer} (${best.score.toFixed(2)}); annotators: ${majority(rec.answers.map(normalizeAnswer))}`,
              );
            }
          }
        }
      } finally {
        ev.destroy();
      }
    }
    // Only what this run wrote (no best.safetensors without a dev set).
    console.log(`wrote ${o.out}/: ${RUN_FILES.filter((f) => existsSync(join(o.out, f))).join(', ')}`);
    return 0;
  } finally {
    bar.stop();
    gpu.destroy();
    unlock();
  }
}

/** "7 x8, 6 x2": the annotators' answers by how many gave them. */
function majority(answers: string[]): string {
  const n = new Map<string, number>();
  for (const a of answers) n.set(a, (n.get(a) ?? 0) + 1);
  return [...n]
    .sort((a, b) => b[1] - a[1])
    .map(([a, k]) => `${a} x${k}`)
    .join(', ');
}

function formatCache(r: CacheReport | { skipped: string }): string {
  if ('skipped' in r) return `frozen features not cached: ${r.skipped}`;
  const where = r.resident ? 'kept on the device' : 'streamed from host memory each step';
  return `frozen features cached: ${r.tensors} tensors, ${(r.bytesPerExample / 1024).toFixed(1)} KiB per example x ${r.examples} examples in ${r.seconds.toFixed(1)} s, ${where} (${r.nodesCached} of ${r.forwardNodes} forward nodes run once per example, not every step; --no-cache-frozen to recompute them)`;
}
