/** One benchmark run: train a method on a seed's draw of k examples, score the best dev checkpoint on the test set. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { numel } from '../../src/compiler/ir/graph.ts';
import { paramReport } from '../../src/compiler/params-report.ts';
import type { Gpu } from '../../src/runtime/device.ts';
import { initParams } from '../../src/runtime/init.ts';
import { NonFiniteError } from '../../src/runtime/step-runner.ts';
import { Evaluator, train, type TrainConfig } from '../../src/train/trainer.ts';
import type { Method, Setting } from './methods.ts';
import { BATCH, draw, schedule, testSet } from './protocol.ts';
import type { RunRecord } from './results.ts';
import { CHECKPOINTS, loadBackbone } from './weights.ts';
import { backbone } from './model.ts';

/**
 * The frozen weights a setting starts from (see methods.ts), checked against the backbone's
 * params: a missing or misshapen tensor would otherwise leave a random backbone to train on.
 */
export function loadSettingBackbone(setting: Setting, dir = CHECKPOINTS): Record<string, Float32Array> {
  const files = setting === 'vl' ? ['vl'] : ['vision', 'text'];
  const out: Record<string, Float32Array> = {};
  for (const f of files) {
    const path = join(dir, `${f}.safetensors`);
    if (!existsSync(path)) throw new Error(`bench vqa: ${path} is missing; make it with: npx tsx bench/vqa/pretrain.ts ${f}`);
    Object.assign(out, loadBackbone(path).weights);
  }
  const required = setting === 'vl' ? /^(vision|text|head)\./ : /^(vision|text)\./;
  for (const [name, node] of lowerModel(backbone().spec, { batch: 1, mode: 'infer' }).graph.params()) {
    if (!required.test(name)) continue;
    const n = numel(node.shape);
    if (!out[name]) throw new Error(`bench vqa: the '${setting}' checkpoints lack '${name}'; remake them with bench/vqa/pretrain.ts`);
    if (out[name].length !== n) throw new Error(`bench vqa: checkpoint '${name}' has ${out[name].length} values, the model's [${node.shape}] needs ${n}`);
  }
  return out;
}

export async function runOne(gpu: Gpu, m: Method, k: number, seed: number, frozen: Record<string, Float32Array>, signal?: AbortSignal): Promise<RunRecord | null> {
  const spec = m.model().spec;
  const { graph } = lowerModel(spec, { batch: BATCH, mode: 'train' });
  const { trainable } = paramReport(graph);
  const sch = schedule(k);
  const cfg: TrainConfig = {
    epochs: sch.epochs,
    batch: BATCH,
    lr: m.lr,
    seed,
    optimizer: { kind: 'adamw', weightDecay: 0.01, clip: 5, eps: 1e-6 },
    schedule: { kind: 'linear', warmup: 0.05 },
    evalEvery: sch.evalEvery,
    patience: sch.patience,
    minDelta: 0,
    backbone: frozen,
    signal,
  };
  const base = { method: m.name, setting: m.setting, k, seed, trainable };
  const t0 = performance.now();
  let res: Awaited<ReturnType<typeof train>>;
  try {
    res = await train(gpu, spec, draw(k, seed), cfg);
  } catch (e) {
    if (!(e instanceof NonFiniteError)) throw e;
    return { ...base, status: 'diverged', epochs: 0, steps: 0, stoppedEarly: false, seconds: (performance.now() - t0) / 1000, error: e.message };
  }
  if (signal?.aborted) return null;
  const ev = await Evaluator.create(gpu, spec, BATCH);
  try {
    ev.setWeights({ ...initParams(lowerModel(spec, { batch: BATCH, mode: 'infer' }).graph, seed), ...frozen, ...res.bestWeights });
    const t = await ev.evaluate(testSet());
    const last = res.history[res.history.length - 1];
    return {
      ...base,
      status: 'ok',
      test: { accuracy: t.accuracy, exactMatch: t.exactMatch },
      dev: { accuracy: res.best!.accuracy, epoch: res.best!.epoch },
      epochs: last.epoch + 1,
      steps: last.step,
      stoppedEarly: res.stoppedEarly,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    ev.destroy();
  }
}
