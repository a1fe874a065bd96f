/** Optimizers against a reference, schedules, determinism, checkpoints, resume, NaN guard. */
import { describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Builder } from '../../src/compiler/builder.ts';
import { autodiff, gradName } from '../../src/compiler/autodiff.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { TrainStep, NonFiniteError } from '../../src/train/train-step.ts';
import { lrAt } from '../../src/runtime/schedule.ts';
import { train, trainConfig, type TrainConfig } from '../../src/train/trainer.ts';
import { readStepLog, STEP_LOG, type StepRecord } from '../../src/train/step-log.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { exportMerged } from '../../src/train/export.ts';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { Executor } from '../../src/runtime/executor.ts';
import { compilePlan } from '../../src/compiler/plan.ts';
import { profileOf } from '../../src/runtime/profile.ts';
import { makeBatch } from '../../src/runtime/batches.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/runtime/checkpoint.ts';
import { CheckpointError } from '../../src/runtime/safetensors.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { vqaSoftScore, vqaAccuracy } from '../../src/runtime/metrics.ts';
import { peft } from '../../src/dsl/index.ts';
import { quadrants } from '../../examples/quadrants.ts';
import { useGpu } from '../helpers/gpu.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

/** y = x W + b, loss = mean((y - t)^2): small enough to replicate the optimizer in JS. */
function regression() {
  const b = new Builder();
  const x = b.input('x', [4, 3]);
  const t = b.input('t', [4, 2]);
  const W = b.param('W', [3, 2], { trainable: true, init: { kind: 'zeros' } });
  const bias = b.param('b', [2], { trainable: true, init: { kind: 'zeros' }, noDecay: true });
  const e = x.matmul(W).add(bias).sub(t);
  b.output('loss', e.mul(e).mean());
  return b.g;
}
const X = [0.5, -1, 2, 1, 0, -0.5, -2, 1, 1, 0.3, 0.7, -0.2];
const T = [1, -1, 0.5, 2, -1, 0, 0.25, 0.5];
const W0 = [0.1, -0.2, 0.3, 0.05, -0.1, 0.2];
const B0 = [0.01, -0.02];

/** The update rules written out directly, driven by reference-interpreter gradients. */
function referenceRun(kind: 'adamw' | 'sgd', steps: number, lr: number, clip: number, momentum = 0.9) {
  const g = regression();
  const { graph } = autodiff(g, { loss: 'loss' });
  const p: Record<string, number[]> = { W: [...W0], b: [...B0] };
  const m: Record<string, number[]> = { W: W0.map(() => 0), b: B0.map(() => 0) };
  const v: Record<string, number[]> = { W: W0.map(() => 0), b: B0.map(() => 0) };
  for (let s = 0; s < steps; s++) {
    const out = evaluate(graph, {
      inputs: { x: Value.of([4, 3], X), t: Value.of([4, 2], T) },
      params: { W: Value.of([3, 2], p.W), b: Value.of([2], p.b) },
    });
    const grads = { W: [...out[gradName('W')].data], b: [...out[gradName('b')].data] };
    const norm = Math.sqrt([...grads.W, ...grads.b].reduce((a, x) => a + x * x, 0));
    const f = clip > 0 ? Math.min(1, clip / (norm + 1e-6)) : 1;
    for (const k of ['W', 'b'] as const) {
      const wd = k === 'W' ? 0.1 : 0;
      p[k] = p[k].map((w, i) => {
        const gi = grads[k][i] * f;
        if (kind === 'sgd') {
          m[k][i] = momentum * m[k][i] + gi;
          return w - lr * (m[k][i] + wd * w);
        }
        m[k][i] = 0.9 * m[k][i] + 0.1 * gi;
        v[k][i] = 0.999 * v[k][i] + 0.001 * gi * gi;
        const mh = m[k][i] / (1 - 0.9 ** (s + 1));
        const vh = v[k][i] / (1 - 0.999 ** (s + 1));
        return w - lr * (mh / (Math.sqrt(vh) + 1e-8) + wd * w);
      });
    }
  }
  return p;
}

describe('optimizers on the GPU', () => {
  const gpu = useGpu();
  for (const [kind, clip] of [
    ['adamw', 0],
    ['adamw', 0.05],
    ['sgd', 0],
    ['sgd', 0.05],
    ['plain sgd', 0.05],
  ] as const) {
    it(`${kind}${clip ? ' with clipping' : ''} matches the reference for 5 steps`, async () => {
      const momentum = kind === 'plain sgd' ? 0 : 0.9;
      const optimizer =
        kind === 'adamw'
          ? { kind, weightDecay: 0.1, clip }
          : { kind: 'sgd' as const, momentum, weightDecay: 0.1, clip };
      const ts = await TrainStep.compile(gpu(), regression(), {
        optimizer,
        lr: 0.05,
        schedule: { kind: 'constant' },
        totalSteps: 5,
      });
      try {
        // Plain SGD keeps no momentum state (nothing to upload, update or copy back).
        expect(ts.info.state.length).toBe({ adamw: 4, sgd: 2, 'plain sgd': 0 }[kind]);
        ts.setWeights({ W: W0, b: B0 });
        // Updates trade buffers with the weights after each step (ping-pong): read after an even
        // and after an odd number of steps, both must be the current weights.
        for (let s = 0; s < 5; s++) {
          await ts.submit({ x: X, t: T }, 0);
          if (s < 3) continue;
          const got = await ts.readWeights();
          const want = referenceRun(kind === 'adamw' ? 'adamw' : 'sgd', s + 1, 0.05, clip, momentum);
          for (const k of ['W', 'b'])
            want[k].forEach((w, i) => expect(got[k][i], `${k}[${i}] after ${s + 1} steps`).toBeCloseTo(w, 5));
        }
      } finally {
        ts.destroy();
      }
    });
  }

  it('trains a regression to a loss threshold', async () => {
    const ts = await TrainStep.compile(gpu(), regression(), {
      optimizer: { kind: 'adamw' },
      lr: 0.1,
      schedule: { kind: 'constant' },
      totalSteps: 800,
    });
    try {
      ts.setWeights({ W: W0, b: B0 });
      const first = await ts.submit({ x: X, t: T }, 0);
      let last = first;
      for (let s = 1; s < 800; s++) {
        const p = ts.submit({ x: X, t: T }, 0);
        if (s === 799) last = await p;
      }
      // 4 equations, 8 unknowns: the fit can be exact.
      expect(first.losses.loss).toBeGreaterThan(0.5);
      expect(last.losses.loss).toBeLessThan(1e-3);
    } finally {
      ts.destroy();
    }
  });

  it('the NaN guard stops with the step and the first offending tensor', async () => {
    const ts = await TrainStep.compile(gpu(), regression(), {
      optimizer: { kind: 'adamw' },
      lr: 0.05,
      schedule: { kind: 'constant' },
      totalSteps: 5,
    });
    try {
      ts.setWeights({ W: W0, b: B0 });
      await ts.submit({ x: X, t: T }, 0);
      const bad = [...X];
      bad[4] = Number.NaN;
      const err = await ts.submit({ x: bad, t: T }, 0).catch((e) => e);
      expect(err).toBeInstanceOf(NonFiniteError);
      expect(err.message).toMatch(/non-finite value at step 1: gradient of 'W'/);
    } finally {
      ts.destroy();
    }
  });
});

describe('schedules and metrics', () => {
  it('linear warmup then decay; cosine; constant', () => {
    const s = { kind: 'linear' as const, warmup: 0.1 };
    expect(lrAt(s, 1, 0, 100)).toBeCloseTo(0.1);
    expect(lrAt(s, 1, 9, 100)).toBeCloseTo(1);
    expect(lrAt(s, 1, 10, 100)).toBeCloseTo(1);
    expect(lrAt(s, 1, 55, 100)).toBeCloseTo(0.5);
    expect(lrAt({ kind: 'cosine' }, 2, 50, 100)).toBeCloseTo(1);
    expect(lrAt({ kind: 'cosine' }, 2, 100, 100)).toBeCloseTo(0);
    expect(lrAt({ kind: 'constant' }, 3, 77, 100)).toBe(3);
  });

  it('VQA soft scores and accuracy', () => {
    expect(vqaSoftScore(2, [2, 2, 2, 2, 1, 1, 1, 1, 1, 1])).toBe(1);
    expect(vqaSoftScore(2, [2, 2, 1, 1, 1, 1, 1, 1, 1, 1])).toBeCloseTo(2 / 3);
    expect(vqaSoftScore(3, [2, 2, 1, 1, 1, 1, 1, 1, 1, 1])).toBe(0);
    // Two examples, three answers: predicts answer 1 (score 2/3) and answer 0 (score 1).
    expect(vqaAccuracy([0, 5, 1, 9, 0, 0], [0, 2 / 3, 1, 1, 0, 0], 3, 2)).toBeCloseTo((2 / 3 + 1) / 2);
  });
});

const tiny = () =>
  tinyVl()
    .freeze('**')
    .insert(peft.mixphm({ at: 'text.layers.*.ffn', bottleneck: 4, kron: 2, rank: 2 }))
    .regularize().spec;
// AdamW (wd 0.01, clip 5, eps 1e-6), linear schedule with 5% warmup: trainConfig's defaults.
const cfg = (over: Partial<TrainConfig> = {}): TrainConfig =>
  trainConfig({ epochs: 4, batch: 16, lr: 5e-3, seed: 7, evalEvery: 2, ...over });
const data = { train: quadrants(64, 1), dev: quadrants(32, 2) };

describe('trainer', () => {
  const gpu = useGpu();

  it('is deterministic for a seed, and resumes exactly from a checkpoint', async () => {
    const dirA = mkdtempSync(join(tmpdir(), 'pg-full-'));
    const a = await train(gpu(), tiny(), data, { ...cfg(), outDir: dirA });
    const b = await train(gpu(), tiny(), data, cfg());
    expect(b.history.map((r) => r.loss)).toEqual(a.history.map((r) => r.loss));
    const dir = mkdtempSync(join(tmpdir(), 'pg-resume-'));
    const stop = new AbortController();
    const first = await train(
      gpu(),
      tiny(),
      data,
      { ...cfg(), outDir: dir, signal: stop.signal },
      { onEpoch: (r) => r.epoch === 1 && stop.abort() },
    );
    expect(first.history.length).toBe(2);
    // A crash after the checkpoint can leave log lines of steps the resumed run repeats, and a torn line.
    appendFileSync(
      join(dir, STEP_LOG),
      `${JSON.stringify({ step: 8, epoch: 2, lr: 0, gradNorm: 0, ms: 0, losses: { loss: 99 } })}\n{"step": 9, "ep`,
    );
    const resumed = await train(gpu(), tiny(), data, { ...cfg(), outDir: dir, resume: join(dir, 'last.safetensors') });
    expect(resumed.history.map((r) => r.loss)).toEqual(a.history.map((r) => r.loss));
    expect(resumed.history.map((r) => r.dev?.accuracy)).toEqual(a.history.map((r) => r.dev?.accuracy));
    // The best weights survive the interruption, whichever side of it they were found on.
    expect(Object.keys(resumed.bestWeights).sort()).toEqual(Object.keys(a.bestWeights).sort());
    for (const [k, v] of Object.entries(a.bestWeights)) expect([...resumed.bestWeights[k]]).toEqual([...v]);
    // steps.jsonl: one line per step, the same across the interruption (but the wall times).
    const full = readStepLog(join(dirA, STEP_LOG));
    const steps = readFileSync(join(dir, STEP_LOG), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(full.map((r) => r.step)).toEqual([...Array(16).keys()]);
    const noTime = (r: StepRecord) => ({ ...r, ms: 0 });
    expect(steps.map(noTime)).toEqual(full.map(noTime));
    for (const r of full) {
      expect(r.lr).toBeCloseTo(lrAt(cfg().schedule, 5e-3, r.step, 16), 9);
      expect(r.gradNorm).toBeGreaterThan(0);
      expect(r.ms).toBeGreaterThan(0);
      expect(Object.keys(r.losses).sort()).toEqual(Object.keys(a.history[0].losses).sort());
    }
    for (const h of a.history) {
      const own = full.filter((r) => r.epoch === h.epoch);
      expect(own.reduce((t, r) => t + r.losses.loss, 0) / own.length).toBeCloseTo(h.loss, 6);
    }
  });

  it('reduces the loss, and exports merged weights that predict like the unmerged model', async () => {
    const r = await train(gpu(), tiny(), data, cfg({ epochs: 8 }));
    const task = r.history.map((h) => h.losses.loss_task);
    // MixPHM on a frozen random backbone learns slowly; deterministic on one adapter (3.67 -> 2.98 here).
    for (let i = 1; i < task.length; i++) expect(task[i]).toBeLessThan(task[i - 1]);
    expect(task[task.length - 1]).toBeLessThan(task[0] * 0.85);
    const dir = mkdtempSync(join(tmpdir(), 'pg-merged-'));
    const weights = { ...initialWeights(lowerModel(tiny(), { batch: 16, mode: 'infer' }).graph, 7), ...r.bestWeights };
    exportMerged(join(dir, 'm.safetensors'), tiny(), weights, 16);
    const merged = readSafetensors(join(dir, 'm.safetensors'));
    expect(merged.tensors.get('text.layers.0.ffn.mixphm.up.T')!.shape).toEqual([2, 2, 2]); // no expert axis
    const { inputs } = makeBatch(data.dev, [...Array(16).keys()], 16);
    const logits = async (g: ReturnType<typeof lowerModel>['graph'], w: Record<string, ArrayLike<number>>) => {
      const ex = await Executor.create(gpu(), compilePlan(g, profileOf(gpu())));
      try {
        for (const k of Object.keys(ex.plan.params)) ex.setParam(k, w[k]);
        return (await ex.run(Object.fromEntries(Object.entries(inputs).filter(([k]) => ex.plan.inputs[k])), ['logits']))
          .logits;
      } finally {
        ex.destroy();
      }
    };
    const want = await logits(lowerModel(tiny(), { batch: 16, mode: 'infer' }).graph, weights);
    const got = await logits(
      lowerModel(tiny(), { batch: 16, mode: 'infer', merged: true }).graph,
      Object.fromEntries([...merged.tensors].map(([k, t]) => [k, t.data])),
    );
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
  });
});

describe('checkpoint files', () => {
  const graph = lowerModel(tiny(), { batch: 2, mode: 'train' }).graph;
  const trainable = [...graph.params()].filter(([, n]) => (n.attrs.info as { trainable: boolean }).trainable);
  const params = Object.fromEntries(
    trainable.map(([k, n], i) => [k, new Float32Array(n.shape.reduce((p, q) => p * q, 1)).fill(i)]),
  );
  const state = { [`m:${trainable[0][0]}`]: new Float32Array(params[trainable[0][0]].length).fill(0.5) };
  const dir = mkdtempSync(join(tmpdir(), 'pg-ck-'));
  const path = join(dir, 'ck.safetensors');
  saveCheckpoint(path, graph, { params, state, meta: { step: 3, note: 'x' } });

  it('round-trips params, optimizer state and metadata', () => {
    const ck = loadCheckpoint(path, graph);
    for (const [k, v] of Object.entries(params)) expect([...ck.params[k]]).toEqual([...v]);
    expect([...ck.state[`m:${trainable[0][0]}`]]).toEqual([...state[`m:${trainable[0][0]}`]]);
    expect(ck.meta.step).toBe(3);
    // The header is standard safetensors: a little-endian length then JSON with F32 entries.
    const bytes = readFileSync(path);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString());
    expect(header[trainable[0][0]].dtype).toBe('F32');
  });

  it('fails clearly on truncated, corrupt and mismatched files', () => {
    const bytes = readFileSync(path);
    const cut = join(dir, 'cut.safetensors');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 10));
    expect(() => loadCheckpoint(cut, graph)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(cut, graph)).toThrow(/offsets .* outside the .* data bytes .*truncated/);
    writeFileSync(cut, bytes.subarray(0, 5));
    expect(() => loadCheckpoint(cut, graph)).toThrow(/truncated: 5 bytes/);
    const junk = Buffer.from(bytes);
    junk.write('{{{{', 8);
    writeFileSync(cut, junk);
    expect(() => loadCheckpoint(cut, graph)).toThrow(/header is not valid JSON/);
    const other = lowerModel(
      { ...tiny(), insertions: [peft.lora({ at: 'text.layers.0.attn.q', rank: 2 })], regularizers: [] },
      { batch: 2, mode: 'train' },
    ).graph;
    expect(() => loadCheckpoint(path, other)).toThrow(
      /does not match the model:[\s\S]*is not a param of this model[\s\S]*trainable 'text\.layers\.0\.attn\.q\.lora\.A' is missing/,
    );
  });

  it('saves atomically: a failure before the rename leaves the previous file and no temp', () => {
    const before = readFileSync(path);
    expect(() =>
      saveCheckpoint(
        path,
        graph,
        { params, state: {}, meta: { step: 99 } },
        {
          beforeRename: () => {
            throw new Error('killed');
          },
        },
      ),
    ).toThrow('killed');
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(path)).toBe(true);
  });
});
