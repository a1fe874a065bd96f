/**
 * Every PEFT method on every imported family, and VL models composed from two pretrained
 * directories: gradients of the imported models against finite differences (float64 reference),
 * and a short training run on WebGPU that must lower the loss while the backbone stays frozen.
 */
import { describe, expect, it } from 'vitest';
import { peft, vl } from '../../src/dsl/index.ts';
import { hf } from '../../src/hf/towers.ts';
import { parseSpec, type ModelSpec, type ModelSpecInput, type PeftSpec } from '../../src/dsl/spec.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { paramReport } from '../../src/compiler/params-report.ts';
import { pretrainedWeights } from '../../src/hf/import.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { Evaluator, train, trainConfig } from '../../src/train/trainer.ts';
import { backboneIdentity } from '../../src/train/identity.ts';
import type { Dataset } from '../../src/runtime/batches.ts';
import { gradCheck } from '../helpers/gradcheck.ts';
import { draw, rng } from '../helpers/random.ts';
import { useGpu } from '../helpers/gpu.ts';
import { fixtureDir } from '../helpers/hf-fixture.ts';

const vit = () => hf.vision(fixtureDir('vit'));
const text = (name: string, maxLen = 6) => hf.text(fixtureDir(name), { maxLen, targetLen: 4 });

/** Small PEFT sizes that divide the fixtures' width 16. */
const phm = { bottleneck: 4, kron: 2, rank: 2 };

/** Every method at the points of `stacks` (LoRA on all four attention projections; T5 has no biases for BitFit). */
function everyMethod(stacks: string[]): PeftSpec[] {
  const bitfit = stacks.includes('encoder') ? [] : [peft.bitfit({ at: stacks.map((s) => `${s}.**`) })];
  const at = (s: string) => stacks.map((st) => `${st}.layers.*.${s}`) as never;
  return [
    peft.lora({ at: at('attn.{q,k,v,o}'), rank: 2 }),
    peft.adapter({ at: at('attn'), bottleneck: 2 }),
    peft.compacter({ at: at('ffn'), ...phm }),
    peft.mixphm({ at: at('ffn'), experts: 2, ...phm, dropout: 0 }),
    peft.adamix({ at: at('attn'), experts: 2, bottleneck: 2 }),
    ...bitfit,
  ];
}

const FAMILY_MODELS: Record<string, () => { model: ModelSpecInput; stacks: string[] }> = {
  vit: () => ({ model: { vision: vit(), head: vl.classifier({ answers: 3 }) }, stacks: ['vision'] }),
  clip_vision: () => ({
    model: { vision: hf.vision(fixtureDir('clip_vision')), head: vl.classifier({ answers: 3 }) },
    stacks: ['vision'],
  }),
  bert: () => ({ model: { text: text('bert'), head: vl.classifier({ answers: 3 }) }, stacks: ['text'] }),
  roberta: () => ({ model: { text: text('roberta'), head: vl.classifier({ answers: 3 }) }, stacks: ['text'] }),
  gpt2: () => ({ model: { text: text('gpt2'), head: vl.lm() }, stacks: ['text'] }),
  t5: () => ({ model: { text: text('t5'), head: vl.lm() }, stacks: ['encoder', 'decoder'] }),
  t5_v1_1: () => ({
    model: { text: text('t5_v1_1'), head: vl.classifier({ answers: 3 }) },
    stacks: ['encoder', 'decoder'],
  }),
};

/** Imported backbone weights plus seeded values for everything else, perturbed off zero. */
function feedsFor(spec: ModelSpec, batch: number) {
  const { graph } = lowerModel(spec, { batch, mode: 'train' });
  const { weights } = pretrainedWeights(spec, graph);
  const init = { ...initialWeights(graph, 3), ...weights };
  const r = rng(9);
  const params = Object.fromEntries(
    [...graph.params()].map(([k, n]) => [
      k,
      new Value(
        n.shape,
        Float64Array.from(init[k], (x) => x + (k in weights ? 0 : 0.05 * (r() - 0.5))),
      ),
    ]),
  );
  const inputs: Record<string, Value> = {};
  for (const [name, n] of graph.inputs()) {
    const shape = n.shape;
    if (name === 'seed') inputs.seed = Value.scalar(5, 'u32');
    else if (name === 'image') inputs.image = draw(r, shape, 'positive');
    else if (n.dtype === 'i32') inputs[name] = draw(r, shape, { int: name === 'labels' ? 3 : 30 }, 'i32');
    else if (name === 'targets') inputs.targets = draw(r, shape, { int: 2 });
    else
      inputs[name] = Value.of(
        shape,
        Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i % shape[1] < shape[1] - 1 ? 1 : 0)),
      ); // masks: last token padded
  }
  return { graph, feeds: { params, inputs } };
}

describe('every PEFT method on every imported family', () => {
  for (const [name, make] of Object.entries(FAMILY_MODELS)) {
    it(`${name}: all methods lower, train only PEFT params and the head, and their gradients match finite differences`, () => {
      const { model, stacks } = make();
      const spec = parseSpec({
        ...model,
        freeze: ['**'],
        insertions: everyMethod(stacks),
        regularizers: [{ kind: 'redundancy' }],
      });
      const { graph, feeds } = feedsFor(spec, 2);
      const report = paramReport(graph);
      for (const m of ['lora', 'adapter', 'compacter', 'mixphm', 'adamix'])
        expect(report.byMethod[m], `${name} ${m}`).toBeGreaterThan(0);
      expect(report.byGroup.backbone.trainable, 'BitFit: biases only').toBeLessThan(report.byGroup.backbone.total / 4);
      gradCheck(graph, feeds, 'loss', { maxCoords: 2 });
    });
  }
});

describe('full finetuning of imported families', () => {
  for (const name of ['bert', 'gpt2', 't5']) {
    it(`${name}: every weight trains and its gradient matches (tied embeddings: both uses summed)`, () => {
      const { model } = FAMILY_MODELS[name]();
      const spec = parseSpec({ ...model, insertions: [peft.full()] });
      const { graph, feeds } = feedsFor(spec, 2);
      const r = paramReport(graph);
      expect(r.trainable).toBe(r.total);
      gradCheck(graph, feeds, 'loss', { maxCoords: 2 });
    });
  }
});

/** The two VL settings of METHODS.md, and captioning, from two pretrained directories each. */
const COMPOSED: Record<string, () => ModelSpecInput> = {
  'ViT + BERT, LoRA and adapter with routing (routing setting)': () =>
    vl
      .model({ vision: vit(), text: text('bert'), visualPrefix: 'pooled', head: vl.classifier({ answers: 3 }) })
      .freeze('**')
      .insert(
        peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2, routing: 'inner' }),
        peft.adapter({ at: 'text.layers.*.ffn', bottleneck: 4, routing: 'add' }),
      ).spec,
  'ViT + T5 encoder-decoder, MixPHM with its regularizer (MixPHM setting, VL-T5 prefix)': () =>
    vl
      .model({ vision: vit(), text: text('t5'), visualPrefix: 'tokens', head: vl.classifier({ answers: 3 }) })
      .freeze('**')
      .insert(peft.mixphm({ at: ['encoder.layers.*.ffn', 'decoder.layers.*.ffn'], experts: 2, ...phm }))
      .regularize({ red: 0.1, rel: 0.02 }).spec,
  'ViT + GPT-2, captioning LM with routed LoRA': () =>
    vl
      .model({ vision: vit(), text: text('gpt2'), visualPrefix: 'pooled', head: vl.lm() })
      .freeze('**')
      .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2, routing: 'mul' })).spec,
  'CLIP + RoBERTa, Compacter': () =>
    vl
      .model({
        vision: hf.vision(fixtureDir('clip_vision')),
        text: text('roberta'),
        visualPrefix: 'pooled',
        head: vl.classifier({ answers: 3 }),
      })
      .freeze('**')
      .insert(peft.compacter({ at: 'text.layers.*.ffn', ...phm })).spec,
};

describe('VL models from two pretrained directories', () => {
  for (const [title, make] of Object.entries(COMPOSED)) {
    it(`${title}: imports both towers and differentiates correctly`, () => {
      const spec = parseSpec(make());
      const { graph, feeds } = feedsFor(spec, 2);
      const { plans } = pretrainedWeights(spec, graph);
      expect(plans.map((p) => [p.tower, p.missing.length])).toEqual([
        ['vision', 0],
        ['text', 0],
      ]);
      const g = paramReport(graph).byGroup;
      expect(g.backbone.trainable).toBe(0);
      expect(g.head?.trainable ?? 0).toBe(g.head?.total ?? 0);
      gradCheck(graph, feeds, 'loss', { maxCoords: 2 });
    });
  }

  it('rejects routing inside the vision tower, where the visual feature does not exist yet', () => {
    const spec = vl
      .model({ vision: vit(), text: text('bert'), visualPrefix: 'pooled', head: vl.classifier({ answers: 3 }) })
      .insert(peft.lora({ at: 'vision.layers.0.attn.q', rank: 2, routing: 'add' })).spec;
    expect(() => lowerModel(spec, { batch: 2, mode: 'train' })).toThrow(
      /routing 'add' at 'vision\.layers\.0\.attn\.q': the pooled visual feature it mixes in exists only after the vision tower/,
    );
  });
});

describe('training a composed pretrained model on WebGPU', () => {
  const gpu = useGpu();

  it("train() and Evaluator load the spec's pretrained towers themselves; a backbone lacking some of them, or an evaluation missing weights, is refused", async () => {
    const spec = parseSpec(COMPOSED['ViT + BERT, LoRA and adapter with routing (routing setting)']());
    const { graph } = lowerModel(spec, { batch: 4, mode: 'train' });
    const r = rng(3);
    const examples = Array.from({ length: 8 }, (_, i) => ({
      image: Float32Array.from({ length: 3 * 16 * 16 }, () => r()),
      tokens: Int32Array.from([2, 5, 9, 3, 0, 0]),
      mask: Float32Array.from([1, 1, 1, 1, 0, 0]),
      targets: Float32Array.from([0, 1, 2], (a) => (a === i % 3 ? 1 : 0)),
    }));
    const cfg = trainConfig({ epochs: 1, batch: 4, lr: 1e-3, seed: 5 });
    const res = await train(gpu(), spec, { train: { examples } }, cfg);
    const pre = pretrainedWeights(spec, graph).weights;
    // The identity of the pretrained towers, not of random ones: they were loaded.
    expect(res.identity.hash).toBe(backboneIdentity(graph, spec, { ...initialWeights(graph, 5), ...pre }, 5).hash);
    const partial = Object.fromEntries(Object.entries(pre).filter(([k]) => !k.startsWith('vision.layers.1.')));
    await expect(train(gpu(), spec, { train: { examples } }, { ...cfg, backbone: partial })).rejects.toThrow(
      /lack \d+ weights of the spec's pretrained towers \(vision\.layers\.1\..*\); leave cfg\.backbone out and train\(\) loads them/,
    );
    // An Evaluator loads the pretrained towers too: the trained weights (and the seed's init of
    // any other frozen part) are all a caller sets; with nothing set, it refuses, naming what lacks a value.
    const ev = await Evaluator.create(gpu(), spec, 4);
    try {
      await expect(ev.evaluate({ examples }, 'dev')).rejects.toThrow(
        /evaluation weights: \d+ params? ha(ve|s) no value .*; setWeights\(\) takes the base weights/,
      );
      const init = initialWeights(graph, 5);
      const notTowers = Object.fromEntries(Object.entries(init).filter(([k]) => !(k in pre)));
      ev.setWeights({ ...notTowers, ...res.bestWeights });
      const got = await ev.evaluate({ examples }, 'dev');
      ev.setWeights({ ...init, ...pre, ...res.bestWeights });
      expect(got).toEqual(await ev.evaluate({ examples }, 'dev'));
    } finally {
      ev.destroy();
    }
  });

  it('ViT + BERT with routed LoRA: the loss falls, the imported backbone is the one used', async () => {
    const spec = parseSpec(COMPOSED['ViT + BERT, LoRA and adapter with routing (routing setting)']());
    const { graph } = lowerModel(spec, { batch: 4, mode: 'train' });
    const { weights } = pretrainedWeights(spec, graph);
    // A task the frozen features can carry: the answer is the brightest colour channel.
    const r = rng(21);
    const examples = Array.from({ length: 32 }, () => {
      const c = Math.floor(r() * 3);
      const image = new Float32Array(3 * 16 * 16).map((_, i) => (Math.floor(i / 256) === c ? 0.8 : 0.2) + 0.1 * r());
      const targets = new Float32Array(3);
      targets[c] = 1;
      return {
        image,
        tokens: Int32Array.from([2, 5, 9, 3, 0, 0]),
        mask: Float32Array.from([1, 1, 1, 1, 0, 0]),
        targets,
      };
    });
    const data: Dataset = { examples };
    const res = await train(
      gpu(),
      spec,
      { train: data, dev: data },
      trainConfig({
        epochs: 12,
        batch: 4,
        lr: 3e-2,
        seed: 1,
        optimizer: { kind: 'adamw', weightDecay: 0, clip: 5, eps: 1e-6 },
        schedule: { kind: 'constant' },
        evalEvery: 12,
        backbone: weights,
      }),
    );
    const first = res.history[0].loss;
    const last = res.history[res.history.length - 1].loss;
    expect(last).toBeLessThan(0.6 * first);
    expect(res.best!.accuracy).toBeGreaterThan(0.9);
    // Trained weights are PEFT and head only; the backbone came from the checkpoint untouched.
    expect(
      Object.keys(res.bestWeights).every(
        (k) => k.startsWith('head.') || k.includes('.lora.') || k.includes('.adapter.'),
      ),
    ).toBe(true);
  });
});
