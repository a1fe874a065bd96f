/**
 * Checkpoints bound to their frozen weights and spec: evaluating or resuming with another seed,
 * another backbone or another spec is refused, saying what differs (issue 14's reproduction:
 * `eval --seed 7` scored 0.10 instead of 0.82 with exit 0).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { peft } from '../../src/dsl/index.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { backboneIdentity, checkIdentity, inputsIdentity } from '../../src/train/identity.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/runtime/checkpoint.ts';
import { Evaluator, train, trainConfig, type TrainConfig } from '../../src/train/trainer.ts';
import { NonFiniteError } from '../../src/train/train-step.ts';
import { quadrants } from '../../examples/quadrants.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';
import { useGpu } from '../helpers/gpu.ts';

const spec = tinyVl()
  .freeze('**')
  .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2 })).spec;
const graph = lowerModel(spec, { batch: 4, mode: 'train' }).graph;
const id = (seed: number) => backboneIdentity(graph, spec, initialWeights(graph, seed), seed);
/** One epoch at batch 4 and a small constant rate, AdamW without decay or clipping: these runs are about refusals. */
const short = (o: Partial<TrainConfig> = {}) =>
  trainConfig({
    epochs: 1,
    batch: 4,
    lr: 1e-3,
    seed: 1,
    optimizer: { kind: 'adamw', weightDecay: 0, clip: 0, eps: 1e-6 },
    schedule: { kind: 'constant' },
    ...o,
  });

describe('backbone identity', () => {
  it('is a content hash: the same for the same frozen weights, different for another seed', () => {
    expect(id(1)).toEqual(id(1));
    expect(id(1).hash).not.toBe(id(7).hash);
    // Trainable weights do not count: a checkpoint changes them.
    const w = initialWeights(graph, 1);
    w['text.layers.0.attn.q.lora.B'] = w['text.layers.0.attn.q.lora.B'].map(() => 3);
    expect(backboneIdentity(graph, spec, w, 1).hash).toBe(id(1).hash);
  });

  it('refuses another seed or spec, saying what differs and how to override', () => {
    expect(() => checkIdentity('ck', { backbone: id(1), spec, inputs: {} }, spec, id(7))).toThrow(
      /its frozen weights differ: trained on randomly initialized towers with seed 1 .* now .* seed 7 .*; pass seed 1 \(--seed 1\)\. Pass allowMismatch: true \(--allow-mismatch\)/,
    );
    const other = tinyVl()
      .freeze('**')
      .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 4 })).spec;
    expect(() => checkIdentity('ck', { backbone: id(1), spec: other, inputs: {} }, spec, id(1))).toThrow(
      /trained with another spec \(.*: .* when trained, .* now/,
    );
    expect(() => checkIdentity('ck', { backbone: id(1), spec: other, inputs: {} }, spec, id(7), true)).not.toThrow();
    // Another spec freezes other params: that is the difference said, not a seed to pass.
    expect(() => checkIdentity('ck', { backbone: id(1), spec: other, inputs: {} }, spec, id(7))).toThrow(
      /^checkpoint ck: it was trained with another spec \([^)]*\)\. Pass allowMismatch/,
    );
    // The same directories and seed with other values: said as such, not as two identical-looking bases.
    const dirs = (hash: string) => ({ hash, seed: 1, sources: ['vit from /m/vit'] });
    expect(() =>
      checkIdentity('ck', { backbone: dirs('a'.repeat(64)), spec, inputs: {} }, spec, dirs('b'.repeat(64))),
    ).toThrow(
      /trained on vit from \/m\/vit with seed 1 \(sha256 aaaaaaaaaaaa\), now vit from \/m\/vit with seed 1 \(sha256 bbbbbbbbbbbb\): the same directories, other values: their files changed since, or training was given other frozen weights \(cfg\.backbone\)/,
    );
    // With an init file among the sources, a moved file is named as a cause.
    const withInit = (hash: string) => ({
      hash,
      seed: 1,
      sources: ['vit from /m/vit', 'init from /m/prefix.safetensors'],
    });
    expect(() =>
      checkIdentity('ck', { backbone: withInit('a'.repeat(64)), spec, inputs: {} }, spec, withInit('b'.repeat(64))),
    ).toThrow(
      /: the same sources, other values: their files changed since \(or an init file holding frozen weights has moved: give the spec its new path\)/,
    );
  });

  it('refuses other answer classes, tokenizer or processor, and identity metadata that is missing or mistyped (even with --allow-mismatch)', () => {
    const trained = inputsIdentity({
      answers: ['yes', 'no'],
      tokenizer: { fingerprint: 'a'.repeat(64) },
      processor: { fingerprint: 'b'.repeat(64) },
    });
    const meta = { backbone: id(1), spec, inputs: trained };
    expect(() => checkIdentity('ck', meta, spec, id(1), false, trained)).not.toThrow();
    expect(() => checkIdentity('ck', meta, spec, id(1), false, inputsIdentity({ answers: ['no', 'yes'] }))).toThrow(
      /its answer classes \(answers\.json\) differ from those it was trained with/,
    );
    expect(() => checkIdentity('ck', meta, spec, id(1), false, { tokenizer: 'c'.repeat(64) })).toThrow(
      /its tokenizer differ/,
    );
    expect(() => checkIdentity('ck', meta, spec, id(1), false, { processor: 'c'.repeat(64) })).toThrow(
      /its image processor differ/,
    );
    // A data module uses none of them: nothing to compare.
    expect(() => checkIdentity('ck', meta, spec, id(1), false, {})).not.toThrow();
    for (const [bad, msg] of [
      [{ spec, inputs: {} }, /has no valid "backbone" identity/],
      [{ backbone: { hash: 3 }, spec, inputs: {} }, /has no valid "backbone" identity/],
      [{ backbone: id(1), inputs: {} }, /has no "spec"/],
      [{ backbone: id(1), spec }, /has no valid "inputs" identity/],
      [{ backbone: id(1), spec, inputs: { answers: 5 } }, /has no valid "inputs" identity/],
    ] as const)
      for (const allow of [false, true])
        expect(() => checkIdentity('ck', bad as never, spec, id(1), allow)).toThrow(msg);
  });
});

describe('backbone weights given to the trainer', () => {
  const gpu = useGpu();
  it('must name params of the model with their sizes (HF-style names are not silently dropped)', async () => {
    const cfg = short();
    const backbone = {
      'encoder.layer.0.attention.self.query.weight': new Float32Array(64),
      'text.layers.0.attn.q.W': new Float32Array(3),
    };
    await expect(train(gpu(), spec, { train: quadrants(16, 1) }, { ...cfg, backbone })).rejects.toThrow(
      /backbone weights: do not fit the model:\n {2}'encoder\.layer\.0\.attention\.self\.query\.weight' is not a param of this model\n {2}'text\.layers\.0\.attn\.q\.W' has 3 values, the model's \[8,8\] needs 64/,
    );
  });
});

describe('the output directory', () => {
  const gpu = useGpu();
  it('is proven writable before any training', async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'out-')), 'a-file');
    writeFileSync(f, 'x');
    const cfg = short({ outDir: f });
    await expect(train(gpu(), spec, { train: quadrants(16, 1) }, cfg)).rejects.toThrow(
      /a-file: output directory is not writable/,
    );
  });
});

describe('resume checks the identity', () => {
  const gpu = useGpu();
  it('a run resumed with another seed is refused before training', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ident-'));
    const cfg = short({ outDir: out });
    await train(gpu(), spec, { train: quadrants(16, 1) }, cfg);
    expect(loadCheckpoint(join(out, 'last.safetensors'), graph).meta.backbone).toEqual(id(1));
    await expect(
      train(
        gpu(),
        spec,
        { train: quadrants(16, 1) },
        { ...cfg, epochs: 2, seed: 7, resume: join(out, 'last.safetensors') },
      ),
    ).rejects.toThrow(/frozen weights differ.*pass seed 1 \(--seed 1\)/);
    // The bookkeeping is checked too: epochs left, the same optimizer, well-formed metadata.
    const last = join(out, 'last.safetensors');
    await expect(train(gpu(), spec, { train: quadrants(16, 1) }, { ...cfg, resume: last })).rejects.toThrow(
      /has finished epoch 1; --epochs 1 leaves nothing to train/,
    );
    await expect(
      train(
        gpu(),
        spec,
        { train: quadrants(16, 1) },
        { ...cfg, epochs: 2, optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 0, clip: 0 }, resume: last },
      ),
    ).rejects.toThrow(/was trained with --optimizer adamw/);
    const ck = loadCheckpoint(last, graph);
    saveCheckpoint(join(out, 'bad.safetensors'), graph, { ...ck, meta: { ...ck.meta, history: 'x' } });
    await expect(
      train(gpu(), spec, { train: quadrants(16, 1) }, { ...cfg, epochs: 2, resume: join(out, 'bad.safetensors') }),
    ).rejects.toThrow(/cannot resume from it: its metadata is malformed \(history: /);
  });

  it("a resume adopts only its own run's best weights (beside the resumed last), never another run's", async () => {
    const data = { train: quadrants(16, 1), dev: quadrants(8, 2) };
    const [a, b] = [mkdtempSync(join(tmpdir(), 'run-a-')), mkdtempSync(join(tmpdir(), 'run-b-'))];
    await train(gpu(), spec, data, short({ outDir: a, epochs: 1 }));
    await train(gpu(), spec, data, short({ outDir: b, epochs: 1, seed: 1, lr: 3e-3 }));
    // Resumed from a into the fresh b: a's best is the best so far, b's own best.safetensors is not adopted.
    const own = loadCheckpoint(join(a, 'best.safetensors'), graph);
    const c = mkdtempSync(join(tmpdir(), 'run-c-'));
    // A negligible rate for the resumed epoch: dev cannot improve, so the best stays a's epoch 0.
    const r = await train(
      gpu(),
      spec,
      data,
      short({ outDir: c, epochs: 2, lr: 1e-12, resume: join(a, 'last.safetensors') }),
    );
    expect(r.best?.epoch).toBe(0);
    for (const [k, v] of Object.entries(own.params)) expect([...r.bestWeights[k]], k).toEqual([...v]);
    // Another run's best beside a's last: refused by its run id.
    writeFileSync(join(a, 'best.safetensors'), readFileSync(join(b, 'best.safetensors')));
    await expect(
      train(gpu(), spec, data, short({ outDir: c, epochs: 2, resume: join(a, 'last.safetensors') })),
    ).rejects.toThrow(/best\.safetensors: belongs to another run than .*last\.safetensors/);
  });

  it('one writer per output directory: a live lock is refused, a dead one taken over', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lock-'));
    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(join(out, '.peftgraph.lock'), JSON.stringify({ pid: sleeper.pid, started: 'then' }));
      await expect(train(gpu(), spec, { train: quadrants(16, 1) }, short({ outDir: out }))).rejects.toThrow(
        new RegExp(`another peftgraph run \\(pid ${sleeper.pid}, since then\\) is writing there`),
      );
    } finally {
      sleeper.kill();
    }
    await new Promise((r) => sleeper.once('exit', r));
    await train(gpu(), spec, { train: quadrants(16, 1) }, short({ outDir: out }));
    expect(existsSync(join(out, '.peftgraph.lock'))).toBe(false);
  });

  it('a dev evaluation that is not finite is an error, not "accuracy NaN"', async () => {
    const ev = await Evaluator.create(gpu(), spec, 4);
    try {
      const w = initialWeights(graph, 1);
      w['head.fc2.b'] = w['head.fc2.b'].map(() => NaN);
      ev.setWeights(w);
      await expect(ev.evaluate(quadrants(8, 2), 'dev')).rejects.toThrow(
        /non-finite value: dev evaluation gave loss NaN/,
      );
    } finally {
      ev.destroy();
    }
  });
});

describe('the NaN guard names where a step went non-finite', () => {
  const gpu = useGpu();
  it('an exploding learning rate: the first value beyond float32, its op, scope and inputs', async () => {
    const full = tinyVl().insert(peft.full()).spec;
    const cfg = short({ epochs: 3, lr: 1e12, optimizer: { kind: 'sgd', momentum: 0, weightDecay: 0, clip: 0 } });
    const err = await train(gpu(), full, { train: quadrants(16, 1) }, cfg).catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err.message).toMatch(
      /^non-finite value at step \d+: .*; first in order: \w+ %\d+ in '[\w.]+' \[[\d, ]*\] = (-?Infinity|NaN|-?[\d.e+]+)( at flat index \d+)?; its inputs: /,
    );
  });
});
