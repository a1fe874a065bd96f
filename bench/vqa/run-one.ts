/** One benchmark run: train a method on a seed's draw of k examples, score the best dev checkpoint on the test set. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { numel } from '../../src/compiler/ir/graph.ts';
import { paramReport } from '../../src/compiler/params-report.ts';
import type { Gpu } from '../../src/runtime/device.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { NonFiniteError } from '../../src/runtime/step-runner.ts';
import { Evaluator, train, type TrainConfig } from '../../src/train/trainer.ts';
import { SETTINGS, type Method, type Setting } from './methods.ts';
import { BATCH, OPTIMIZATION, draw, schedule, testData } from './protocol.ts';
import type { RunRecord } from './results.ts';
import { CHECKPOINTS, loadBackbone } from './weights.ts';
import { flavorOf, jointOf } from './model.ts';

/**
 * The frozen weights a setting starts from (methods.ts SETTINGS), checked against the backbone's
 * params: a missing or misshapen tensor would otherwise leave a random backbone to train on.
 */
export function loadSettingBackbone(setting: Setting, dir = CHECKPOINTS): Record<string, Float32Array> {
  const def = SETTINGS[setting];
  const out: Record<string, Float32Array> = {};
  for (const [i, f] of def.files.entries()) {
    const path = join(dir, `${f}.safetensors`);
    if (!existsSync(path)) throw new Error(`bench vqa: ${path} is missing; make it with: ${def.make}`);
    const { weights, meta } = loadBackbone(path);
    // The pretraining data decides what the downstream split shifts: a far checkpoint under a near
    // setting (or the reverse) would run without error and measure the wrong transfer.
    const want = (def.data ?? 'far') === 'far' ? 'far' : 'near';
    const got = meta.data ?? 'far';
    if (got !== 'far' && got !== 'near')
      throw new Error(`bench vqa: ${path} has metadata data '${got}' (valid: near; far, or none, for far transfer)`);
    if (got !== want)
      throw new Error(
        `bench vqa: ${path} was pretrained for ${got} transfer; setting '${setting}' (data ${def.data ?? 'far'}) needs a ${want}-transfer checkpoint: ${def.make}`,
      );
    // Each file is the tower the setting names (a joint setting reads its layout from its 'vl'
    // file: a file that said otherwise would skip the layout check), of the setting's flavor.
    if (meta.task !== def.tasks[i])
      throw new Error(
        `bench vqa: ${path} has metadata task '${meta.task}'; setting '${setting}' reads it as a '${def.tasks[i]}' checkpoint: ${def.make}`,
      );
    const flavor = flavorOf(meta, path);
    if (flavor !== def.flavor)
      throw new Error(`bench vqa: ${path} is of flavor '${flavor}'; setting '${setting}' reads '${def.flavor}'`);
    const joint = jointOf(meta, path);
    if (def.joint && (joint.prefix !== def.joint.prefix || joint.embed !== def.joint.embed))
      throw new Error(
        `bench vqa: ${path} was pretrained with visual prefix '${joint.prefix}'${joint.embed ? ' (embedded)' : ''}; setting '${setting}' reads '${def.joint.prefix}'${def.joint.embed ? ' (embedded)' : ''}`,
      );
    Object.assign(out, weights);
  }
  // Only the model's params: a checkpoint may hold more (hf-cells' CLS pooler, which a ViT with pool 'mean' has not).
  const used: Record<string, Float32Array> = {};
  for (const [name, node] of lowerModel(def.backbone().spec, { batch: 1, mode: 'infer' }).graph.params()) {
    if (out[name]) used[name] = out[name];
    if (!def.required.test(name)) continue;
    const n = numel(node.shape);
    if (!out[name])
      throw new Error(
        `bench vqa: the '${setting}' checkpoints (${def.files.join(', ')}) lack '${name}'; remake them: ${def.make}`,
      );
    if (out[name].length !== n)
      throw new Error(
        `bench vqa: checkpoint '${name}' has ${out[name].length} values, the model's [${node.shape}] needs ${n}`,
      );
  }
  return used;
}

/**
 * `budget` scales the protocol's epochs (a budget check); `signal` stops the run unrecorded;
 * `devOnly` (tuning) never touches the test set: the record has the best dev score only.
 */
export async function runOne(
  gpu: Gpu,
  m: Method,
  k: number,
  seed: number,
  frozen: Record<string, Float32Array>,
  { signal, budget = 1, devOnly = false }: { signal?: AbortSignal; budget?: number; devOnly?: boolean } = {},
): Promise<RunRecord | null> {
  const spec = m.model().spec;
  const { graph } = lowerModel(spec, { batch: BATCH, mode: 'train' });
  const { trainable } = paramReport(graph);
  const data = draw(k, seed, SETTINGS[m.setting].flavor, SETTINGS[m.setting].data);
  const sch = schedule(k, budget, BATCH, data.train.examples.length);
  const cfg: TrainConfig = {
    epochs: sch.epochs,
    batch: BATCH,
    lr: m.lr,
    seed,
    ...OPTIMIZATION,
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
    res = await train(gpu, spec, data, cfg);
  } catch (e) {
    if (!(e instanceof NonFiniteError)) throw e;
    return {
      ...base,
      status: 'diverged',
      epochs: 0,
      steps: 0,
      stoppedEarly: false,
      seconds: (performance.now() - t0) / 1000,
      error: e.message,
    };
  }
  if (signal?.aborted) return null;
  const last = res.history[res.history.length - 1];
  const trained = {
    ...base,
    status: 'ok' as const,
    dev: { accuracy: res.best!.accuracy, epoch: res.best!.epoch },
    epochs: last.epoch + 1,
    steps: last.step,
    stoppedEarly: res.stoppedEarly,
    curve: res.history
      .filter((h) => h.dev)
      .map((h) => ({ step: h.step, loss: +h.loss.toFixed(4), dev: +h.dev!.accuracy.toFixed(4) })),
  };
  if (devOnly) return { ...trained, seconds: (performance.now() - t0) / 1000 };
  const ev = await Evaluator.create(gpu, spec, BATCH);
  try {
    ev.setWeights(
      initialWeights(lowerModel(spec, { batch: BATCH, mode: 'infer' }).graph, seed, { ...frozen, ...res.bestWeights }),
    );
    const t = await ev.evaluate(testData(SETTINGS[m.setting].flavor, SETTINGS[m.setting].data));
    return {
      ...trained,
      test: { accuracy: t.accuracy, exactMatch: t.exactMatch },
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    ev.destroy();
  }
}
