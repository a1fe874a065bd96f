/**
 * The 'regions' head (dense readout of an image tower's patch tokens): its logits against the
 * same readout written out by hand in JS from the tower's final states and the head's weights,
 * its loss against a hand-written cross-entropy, its gradients against finite differences, and
 * the spec errors for a grid that does not divide the patches or a text tower.
 */
import { describe, expect, it } from 'vitest';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { vl } from '../../src/dsl/index.ts';
import { SpecError, parseSpec } from '../../src/dsl/spec.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { gradCheck } from '../helpers/gradcheck.ts';
import { draw, rng } from '../helpers/random.ts';

// 12x8 image, 2x2 patches: a 6x4 patch grid in 3x2 regions of 2x2 patches.
const spec = () =>
  vl.model({
    vision: vl.vit({ image: [12, 8], patch: 2, width: 8, depth: 1, heads: 2 }),
    head: vl.regions({ grid: [3, 2], classes: 5 }),
  }).spec;
const B = 2;

/** A ViT + text encoder reading the 3x2 regions as a prefix; `textWidth` 8 matches the ViT. */
const regionPrefixModel = (textWidth = 8, visualEmbed = false) =>
  vl.model({
    vision: vl.vit({ image: [12, 8], patch: 2, width: 8, depth: 1, heads: 2 }),
    text: vl.encoder({ vocab: 7, maxLen: 3, width: textWidth, depth: 1, heads: 2 }),
    visualPrefix: 'regions',
    visualRegions: [3, 2],
    visualEmbed,
    head: vl.classifier({ answers: 4 }),
  }).spec;

function feeds(graph: ReturnType<typeof lowerModel>['graph'], seed: number) {
  const r = rng(seed);
  const params = Object.fromEntries(
    Object.entries(initialWeights(graph, seed)).map(([k, v]) => [
      k,
      Value.of(
        graph.leaf('param', k)!.shape,
        [...v].map((x) => x + 0.1 * (r() - 0.5)),
      ),
    ]),
  );
  const labels = Value.of([B, 6], [0, 4, 2, 1, 3, 0, 4, 4, 1, 2, 0, 3], 'i32');
  return { inputs: { image: draw(r, [B, 1, 12, 8], 'real'), labels }, params };
}

describe("the 'regions' head", () => {
  it('logits are each region mean of the final patch tokens through one linear layer; the loss is their CE', () => {
    const { graph } = lowerModel(spec(), { batch: B, mode: 'train', features: true });
    const f = feeds(graph, 4);
    const out = evaluate(graph, f);
    const hidden = out['vision.hidden']; // [B, 1 + 24, 8]
    const W = f.params['head.fc.W'].data; // [8, 5]
    const bias = f.params['head.fc.b'].data;
    const want: number[] = [];
    let loss = 0;
    for (let b = 0; b < B; b++)
      for (let ri = 0; ri < 3; ri++)
        for (let rj = 0; rj < 2; rj++) {
          const mean = new Array(8).fill(0);
          for (let pi = 0; pi < 2; pi++)
            for (let pj = 0; pj < 2; pj++) {
              const token = 1 + (ri * 2 + pi) * 4 + (rj * 2 + pj); // row-major patch grid after CLS
              for (let c = 0; c < 8; c++) mean[c] += hidden.data[(b * 25 + token) * 8 + c] / 4;
            }
          const logits = [0, 1, 2, 3, 4].map((k) => bias[k] + mean.reduce((s, m, c) => s + m * W[c * 5 + k], 0));
          want.push(...logits);
          const label = f.inputs.labels.data[b * 6 + ri * 2 + rj];
          const lse = Math.log(logits.reduce((s, z) => s + Math.exp(z), 0));
          loss += (lse - logits[label]) / (B * 6);
        }
    expect(out.logits.shape).toEqual([B, 30]);
    out.logits.data.forEach((v, i) => expect(v).toBeCloseTo(want[i], 10));
    expect(out.loss.data[0]).toBeCloseTo(loss, 10);
  });

  it('gradients match finite differences', () => {
    const { graph } = lowerModel(spec(), { batch: B, mode: 'train' });
    gradCheck(graph, feeds(graph, 5), 'loss', { maxCoords: 12 });
  });

  it("visualPrefix 'regions': one prefix token per region before the text; gradients match finite differences", () => {
    const model = regionPrefixModel();
    const { graph } = lowerModel(model, { batch: B, mode: 'train', features: true });
    expect(graph.get(graph.outputs.get('text.hidden')!).shape).toEqual([B, 6 + 3, 8]);
    const r = rng(6);
    const params = Object.fromEntries(
      Object.entries(initialWeights(graph, 6)).map(([k, v]) => [k, Value.of(graph.leaf('param', k)!.shape, [...v])]),
    );
    const inputs = {
      image: draw(r, [B, 1, 12, 8], 'real'),
      tokens: Value.of([B, 3], [1, 2, 3, 4, 5, 6], 'i32'),
      mask: Value.of([B, 3], [1, 1, 1, 1, 1, 0]),
      targets: Value.of([B, 4], [1, 0, 0.3, 0, 0, 1, 0, 0]),
    };
    const { graph: fwd } = lowerModel(model, { batch: B, mode: 'train' });
    gradCheck(fwd, { inputs, params }, 'loss', { maxCoords: 10 });
    expect(() => parseSpec({ ...model, visualRegions: undefined })).toThrow(
      /visualPrefix 'regions' needs visualRegions/,
    );
    expect(() => parseSpec({ ...model, visualRegions: [2, 3] })).toThrow(
      /3 regions do not divide the 4 patches along width/,
    );
  });

  it('visualEmbed: each prefix token is LN(region mean W + b) + its own position row, written out in JS; gradients match finite differences', () => {
    const model = regionPrefixModel(6, true); // vision width 8, text width 6: the projection bridges them
    const { graph } = lowerModel(model, { batch: B, mode: 'train', features: true });
    // The text stream as it enters the first block: the concat of prefix and text embeddings.
    const seq = graph.nodes.find((n) => n.op === 'concat' && n.shape.length === 3 && n.shape[1] === 6 + 3)!;
    graph.outputs.set('seq', seq.id);
    const r = rng(7);
    const params = Object.fromEntries(
      Object.entries(initialWeights(graph, 7)).map(([k, v]) => [
        k,
        Value.of(
          graph.leaf('param', k)!.shape,
          [...v].map((x) => x + 0.1 * (r() - 0.5)),
        ),
      ]),
    );
    const inputs = {
      image: draw(r, [B, 1, 12, 8], 'real'),
      tokens: Value.of([B, 3], [1, 2, 3, 4, 5, 6], 'i32'),
      mask: Value.of([B, 3], [1, 1, 1, 1, 1, 0]),
      targets: Value.of([B, 4], [1, 0, 0.3, 0, 0, 1, 0, 0]),
    };
    const out = evaluate(graph, { inputs, params });
    const hidden = out['vision.hidden'].data;
    const [W, bias, g, beta, pos] = ['prefix.proj.W', 'prefix.proj.b', 'prefix.ln.g', 'prefix.ln.b', 'prefix.pos'].map(
      (k) => params[k].data,
    );
    expect(params['prefix.pos'].shape).toEqual([6, 6]);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < 6; t++) {
        const [ri, rj] = [Math.floor(t / 2), t % 2];
        const mean = new Array(8).fill(0);
        for (let pi = 0; pi < 2; pi++)
          for (let pj = 0; pj < 2; pj++)
            for (let c = 0; c < 8; c++) mean[c] += hidden[(b * 25 + 1 + (ri * 2 + pi) * 4 + rj * 2 + pj) * 8 + c] / 4;
        const y = [0, 1, 2, 3, 4, 5].map((k) => bias[k] + mean.reduce((s, m, c) => s + m * W[c * 6 + k], 0));
        const mu = y.reduce((s, v) => s + v, 0) / 6;
        const sd = Math.sqrt(y.reduce((s, v) => s + (v - mu) ** 2, 0) / 6 + 1e-5);
        y.forEach((v, k) =>
          expect(out.seq.data[(b * 9 + t) * 6 + k]).toBeCloseTo(((v - mu) / sd) * g[k] + beta[k] + pos[t * 6 + k], 9),
        );
      }
    const { graph: fwd } = lowerModel(model, { batch: B, mode: 'train' });
    gradCheck(fwd, { inputs, params }, 'loss', { maxCoords: 12 });
    expect(() => parseSpec({ ...model, visualEmbed: false })).toThrow(
      /must equal text.width \(6\): .*visualEmbed: true adds one/,
    );
    expect(() => parseSpec({ ...model, visualPrefix: 'none', visualRegions: undefined })).toThrow(
      /visualEmbed.*needs visualPrefix 'pooled', 'tokens' or 'regions'/,
    );
  });

  it("ViT pool 'mean': the pooled feature is the mean of the final patch states (CLS left out); gradients match finite differences", () => {
    const model = vl.model({
      vision: vl.vit({ image: [12, 8], patch: 2, width: 8, depth: 1, heads: 2, pool: 'mean' }),
      head: vl.classifier({ answers: 3 }),
    }).spec;
    const { graph } = lowerModel(model, { batch: B, mode: 'train', features: true });
    expect([...graph.params().keys()].some((k) => k.startsWith('vision.pooler'))).toBe(false);
    const r = rng(8);
    const params = Object.fromEntries(
      Object.entries(initialWeights(graph, 8)).map(([k, v]) => [k, Value.of(graph.leaf('param', k)!.shape, [...v])]),
    );
    const inputs = { image: draw(r, [B, 1, 12, 8], 'real'), targets: Value.of([B, 3], [1, 0, 0.3, 0, 1, 0]) };
    const out = evaluate(graph, { inputs, params });
    const hidden = out['vision.hidden'].data;
    for (let b = 0; b < B; b++)
      for (let c = 0; c < 8; c++) {
        let sum = 0;
        for (let t = 1; t <= 24; t++) sum += hidden[(b * 25 + t) * 8 + c];
        expect(out['vision.pooled'].data[b * 8 + c]).toBeCloseTo(sum / 24, 10);
      }
    gradCheck(lowerModel(model, { batch: B, mode: 'train' }).graph, { inputs, params }, 'loss', { maxCoords: 10 });
  });

  it('refuses a grid that does not divide the patches, and a text tower', () => {
    const bad = { ...spec(), head: { kind: 'regions', grid: [4, 2], classes: 5 } };
    expect(() => parseSpec(bad)).toThrow(SpecError);
    expect(() => parseSpec(bad)).toThrow(/4 regions do not divide the 6 patches along height \(image 12, patch 2\)/);
    const withText = { ...spec(), text: vl.encoder({ vocab: 5, maxLen: 3, width: 8, depth: 1, heads: 2 }) };
    expect(() => parseSpec(withText)).toThrow(/'regions' classifies an image tower's patch tokens/);
  });
});
