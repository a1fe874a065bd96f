/**
 * Init files (spec.init): a jointly pretrained model's weights outside its HF towers (here the
 * visual prefix embedding) start those params; every tensor must fit the model, and one weight
 * has one source.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { peft, vl } from '../../src/dsl/index.ts';
import { hf } from '../../src/hf/towers.ts';
import { parseSpec } from '../../src/dsl/spec.ts';
import { withAbsolutePaths } from '../../src/dsl/spec-dir.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { pretrainedWeights } from '../../src/hf/import.ts';
import { formatInitFiles } from '../../src/runtime/init-files.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { encodeSafetensors, type TensorEntry } from '../../src/runtime/safetensors.ts';
import { backboneIdentity } from '../../src/train/identity.ts';
import { train, trainConfig } from '../../src/train/trainer.ts';
import { fixtureDir } from '../helpers/hf-fixture.ts';
import { useGpu } from '../helpers/gpu.ts';
import { rng } from '../helpers/random.ts';

const dir = mkdtempSync(join(tmpdir(), 'init-files-'));
/** The VL model with an embedded visual prefix (params prefix.*) over the fixture towers. */
const base = () =>
  vl.model({
    vision: hf.vision(fixtureDir('vit')),
    text: hf.text(fixtureDir('bert'), { maxLen: 6 }),
    visualPrefix: 'pooled',
    visualEmbed: true,
    head: vl.classifier({ answers: 3 }),
  });
const model = (...init: string[]) =>
  base()
    .init(...init)
    .freeze('**')
    .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2 }));
const graph = lowerModel(model().spec, { batch: 4, mode: 'train' }).graph;
const shapeOf = (name: string) => [...graph.params().get(name)!.shape];
const r = rng(11);
const values = (shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() - 0.5);

const written = new Map<string, Record<string, Float32Array>>();

/** Writes `tensors` (name -> shape) with random values as a safetensors file (the values kept in `written`). */
function file(name: string, tensors: Record<string, number[]>): string {
  const t = new Map<string, TensorEntry>(Object.entries(tensors).map(([k, s]) => [k, { shape: s, data: values(s) }]));
  const path = join(dir, name);
  writeFileSync(path, encodeSafetensors(t, {}));
  written.set(path, Object.fromEntries([...t].map(([k, e]) => [k, e.data as Float32Array])));
  return path;
}

const PREFIX = ['prefix.proj.W', 'prefix.proj.b', 'prefix.ln.g', 'prefix.ln.b', 'prefix.pos'];

describe('init files', () => {
  const gpu = useGpu();

  it('start the params they name: loaded beside the towers, used by train(), reported', async () => {
    const path = file('prefix.safetensors', Object.fromEntries(PREFIX.map((n) => [n, shapeOf(n)])));
    const spec = model(path).spec;
    const pre = pretrainedWeights(spec, graph);
    expect(pre.init.map((p) => p.params.sort())).toEqual([[...PREFIX].sort()]);
    expect(formatInitFiles(pre.init)[0]).toMatch(/^init: .*prefix\.safetensors: 5 tensors, [\d,]+ values \(prefix\./);
    // The tower weights are still there, and the file's values are exactly what it holds.
    expect(pre.weights['text.layers.0.attn.q.W']).toBeDefined();
    for (const n of PREFIX) expect(pre.weights[n], n).toEqual(written.get(path)![n]);
    const other = pretrainedWeights(model().spec, graph).weights;
    expect(pre.weights['prefix.pos']).not.toEqual(initialWeights(graph, 5)['prefix.pos']);
    expect(other['prefix.pos']).toBeUndefined();
    // train() starts from them: the frozen identity (prefix.* frozen here) is that of the file's values.
    const examples = Array.from({ length: 4 }, (_, i) => ({
      image: Float32Array.from({ length: 3 * 16 * 16 }, () => r()),
      tokens: Int32Array.from([2, 5, 9, 3, 0, 0]),
      mask: Float32Array.from([1, 1, 1, 1, 0, 0]),
      targets: Float32Array.from([0, 1, 2], (a) => (a === i % 3 ? 1 : 0)),
    }));
    const res = await train(gpu(), spec, { train: { examples } }, trainConfig({ epochs: 1, batch: 4, seed: 5 }));
    const want = backboneIdentity(graph, spec, { ...initialWeights(graph, 5), ...pre.weights }, 5);
    expect(res.identity.hash).toBe(want.hash);
    expect(res.identity.sources.at(-1)).toBe(`init from ${path}`);
    const without = backboneIdentity(graph, spec, { ...initialWeights(graph, 5), ...other }, 5);
    expect(without.hash).not.toBe(want.hash);
  });

  it('refuse a tensor that is not a param, a wrong shape, a tower weight, a weight named twice, an empty or missing file', () => {
    const plan =
      (...paths: string[]) =>
      () =>
        pretrainedWeights(model(...paths).spec, graph);
    expect(plan(file('typo.safetensors', { 'prefix.proj.w': [16, 16] }))).toThrow(
      /typo\.safetensors: init file does not fit the model:\n {2}'prefix\.proj\.w' is not a param of this model \(params under 'prefix\.': prefix\.proj\.W/,
    );
    expect(plan(file('hf-keys.safetensors', { 'embeddings.word_embeddings.weight': [4, 4] }))).toThrow(
      /'embeddings\.word_embeddings\.weight' is not a param of this model \(its first part 'embeddings' names no part of it; its parts: .*prefix.*\)/,
    );
    expect(plan(file('shape.safetensors', { 'prefix.pos': [2, 16] }))).toThrow(
      new RegExp(`'prefix\\.pos' is \\[2,16\\], the model's param is \\[${shapeOf('prefix.pos')}\\]`),
    );
    expect(plan(file('tower.safetensors', { 'text.layers.0.attn.q.W': shapeOf('text.layers.0.attn.q.W') }))).toThrow(
      /'text\.layers\.0\.attn\.q\.W' also comes from a pretrained tower directory/,
    );
    const a = file('a.safetensors', { 'prefix.pos': shapeOf('prefix.pos') });
    const b = file('b.safetensors', { 'prefix.pos': shapeOf('prefix.pos') });
    expect(plan(a, b)).toThrow(
      /b\.safetensors: init file does not fit the model:\n {2}'prefix\.pos' is also in .*a\.safetensors/,
    );
    expect(plan(file('empty.safetensors', {}))).toThrow(
      /empty\.safetensors: init file does not fit the model:\n {2}holds no tensors/,
    );
    expect(plan(join(dir, 'missing.safetensors'))).toThrow(
      /missing\.safetensors: init file \(the spec's init\): cannot read/,
    );
    expect(plan(dir)).toThrow(/cannot read: not a regular file/);
  });

  it('start trainable params too: training begins from the file, not the seed', async () => {
    const path = file('trainable.safetensors', { 'prefix.pos': shapeOf('prefix.pos') });
    // prefix.* trains here; a learning rate of 1e-12 leaves it where it started.
    const spec = base().init(path).freeze('vision.**', 'text.**').spec;
    const examples = Array.from({ length: 4 }, (_, i) => ({
      image: Float32Array.from({ length: 3 * 16 * 16 }, () => r()),
      tokens: Int32Array.from([2, 5, 9, 3, 0, 0]),
      mask: Float32Array.from([1, 1, 1, 1, 0, 0]),
      targets: Float32Array.from([0, 1, 2], (a) => (a === i % 3 ? 1 : 0)),
    }));
    const res = await train(
      gpu(),
      spec,
      { train: { examples } },
      trainConfig({ epochs: 1, batch: 4, lr: 1e-12, seed: 5 }),
    );
    const want = written.get(path)!['prefix.pos'];
    const got = res.bestWeights['prefix.pos'];
    expect(got).toBeDefined();
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i])))).toBeLessThan(1e-6);
  });

  it('refuse integers, name a transposed matrix, a file named twice; a moved file is skipped only when rebuilding a base', () => {
    const plan =
      (...paths: string[]) =>
      () =>
        pretrainedWeights(model(...paths).spec, graph);
    // The head's first layer is [width, 2 x width]: not square, so a transposed copy shows.
    const w = shapeOf('head.fc1.W');
    expect(w[0]).not.toBe(w[1]);
    expect(plan(file('transposed.safetensors', { 'head.fc1.W': [w[1], w[0]] }))).toThrow(
      /is \[\d+,\d+\], the model's param is \[\d+,\d+\] \(transposed\? peftgraph stores a linear weight W as \[in, out\]/,
    );
    // The same bytes declared I32 (4 bytes a value, as F32): a header edit.
    const ints = file('ints.safetensors', { 'prefix.pos': shapeOf('prefix.pos') });
    writeFileSync(ints, Buffer.from(readFileSync(ints).toString('latin1').replace('"F32"', '"I32"'), 'latin1'));
    expect(plan(ints)).toThrow(/'prefix\.pos' is I32; weights are F32, F16, BF16/);
    const a = file('twice.safetensors', { 'prefix.pos': shapeOf('prefix.pos') });
    expect(() => model(a, a).spec).toThrow(/init: names a file twice/);
    const gone = join(dir, 'moved-away.safetensors');
    expect(plan(gone)).toThrow(
      /moved-away\.safetensors: init file \(the spec's init\): cannot read.*if it moved, give the spec its new path/,
    );
    // Rebuilding the base of a trained checkpoint: the moved file is left out (the hash guards frozen weights).
    expect(pretrainedWeights(model(gone).spec, graph, { skipUnreadableInit: true }).init).toEqual([]);
    // @ts-expect-error: a path in vl.model() would not resolve against the spec's directory; .init() takes it
    expect(() => vl.model({ init: ['x.safetensors'] })).toBeDefined();
  });

  it("are paths: a JSON spec's relative ones mean its own directory", () => {
    const spec = parseSpec({ ...model().toJSON(), init: ['prefix.safetensors'] });
    expect(withAbsolutePaths(spec, '/models/joint').init).toEqual(['/models/joint/prefix.safetensors']);
  });
});
