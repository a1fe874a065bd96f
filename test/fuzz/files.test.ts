/**
 * Seeded fuzzing of the files a run reads beside its data (issue 30's classes): VQAv2 questions
 * and annotations, preprocessor configs, tokenizer.json, HF config.json, image bytes, checkpoint
 * identity metadata and artifact plans. Each mutated input must work or be refused with a
 * UserError; what is accepted must also be right (answers are strings, question ids unique,
 * processed pixels finite, token ids inside the vocabulary, an image's size its header's).
 */
import { mutator } from '../helpers/mutate.ts';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rewritePlan } from '../helpers/artifact-edit.ts';
import { describe, expect, it } from 'vitest';
import { readVqaV2 } from '../../src/data/vqa.ts';
import { ImageProcessor, parseProcessorConfig, readImage } from '../../src/data/image.ts';
import { TextTokenizer } from '../../src/data/tokenizer.ts';
import { peft } from '../../src/dsl/index.ts';
import { hf } from '../../src/hf/towers.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { backboneIdentity, checkIdentity, inputsIdentity } from '../../src/train/identity.ts';
import { initialWeights, prng } from '../../src/runtime/init.ts';
import { Artifact } from '../../src/runtime/artifact.ts';
import { buildArtifact, writeArtifact } from '../../src/cli/artifact.ts';
import { profileOf } from '../../src/runtime/profile.ts';
import { UserError } from '../../src/user-error.ts';
import { encodeSafetensors, SafetensorsFile } from '../../src/runtime/safetensors.ts';
import { loadImport, planImport, pretrainedWeights } from '../../src/hf/import.ts';
import { parseSpec } from '../../src/dsl/spec.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';
import { readTuningFile } from '../../bench/vqa/tuning.ts';
import { useGpu } from '../helpers/gpu.ts';

const r = prng(Number(process.env.PEFTGRAPH_FUZZ_SEED ?? 20261207));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const WEIRD: unknown[] = [
  -1,
  0,
  0.5,
  1e9,
  -1e9,
  Number.NaN,
  '',
  'x',
  '../x',
  null,
  true,
  [],
  {},
  [1, 2],
  { answer: null },
  'longest_edge',
  65536,
  3,
];
const FIX = join(import.meta.dirname, '..', 'fixtures');

/** Runs `f`; a UserError or success passes, anything else fails naming the input. */
async function clean<T>(
  what: string,
  input: unknown,
  f: () => T | Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false }> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    if (e instanceof UserError) return { ok: false };
    throw new Error(
      `${what}: ${(e as Error).name}: ${(e as Error).message}\n  input: ${JSON.stringify(input)?.slice(0, 600)}`,
    );
  }
}

const mutate = mutator(r, WEIRD, 5);

const scratch = () => mkdtempSync(join(tmpdir(), 'fuzz-files-'));

const TENSOR_MUTATIONS = ['drop', 'rename', 'flat', 'transpose', 'add', 'lead1'] as const;
type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

/** One drawn tensor of `t` changed in place by a drawn kind; a kind this does not know ('cut') is the caller's. */
function mutateTensors<K extends string>(t: Tensors, kinds: readonly K[]): { k: string; kind: K } {
  const k = pick([...t.keys()]);
  const e = t.get(k)!;
  const kind = pick(kinds);
  if (kind === 'drop') t.delete(k);
  else if (kind === 'rename') {
    t.delete(k);
    t.set(`${k.slice(0, -1)}x`, e);
  } else if (kind === 'flat') t.set(k, { shape: [e.data.length], data: e.data });
  else if (kind === 'transpose') t.set(k, { shape: [...e.shape].reverse(), data: e.data });
  else if (kind === 'lead1') t.set(k, { shape: [1, ...e.shape], data: e.data });
  else if (kind === 'add') t.set(`${k}.extra`, e);
  return { k, kind };
}

describe('fuzz: files beside the data', () => {
  it('150 mutated VQAv2 question/annotation files: read or refused; what is read has string answers and unique ids', async () => {
    const d = scratch();
    mkdirSync(join(d, 'images'));
    for (const id of [42, 43])
      copyFileSync(join(FIX, 'images', 'rgb.png'), join(d, 'images', `COCO_val2014_0000000000${id}.jpg`));
    const q = {
      data_subtype: 'val2014',
      questions: [42, 43].flatMap((img, i) =>
        [0, 1].map((j) => ({ image_id: img, question: `q ${i}${j}?`, question_id: 10 * img + j })),
      ),
    };
    const a = {
      annotations: q.questions.map((x) => ({
        question_id: x.question_id,
        answers: ['1', 'two', 'yes'].map((answer) => ({ answer })),
      })),
    };
    let accepted = 0;
    for (let i = 0; i < 150; i++) {
      // One case in ten unmutated: the check that accepted records are right must see some.
      const x = r();
      const [qm, am] = x < 0.1 ? [q, a] : x < 0.55 ? [mutate(q), a] : [q, mutate(a)];
      writeFileSync(join(d, 'q_questions.json'), JSON.stringify(qm));
      writeFileSync(join(d, 'a_annotations.json'), JSON.stringify(am));
      const res = await clean(`vqav2 ${i}`, { qm, am }, () =>
        readVqaV2(join(d, 'q_questions.json'), join(d, 'a_annotations.json'), join(d, 'images')),
      );
      if (!res.ok) continue;
      accepted++;
      const ids = res.value.map((x) => x.where);
      expect(new Set(ids).size, `vqav2 ${i}: question ids unique`).toBe(ids.length);
      for (const rec of res.value) for (const ans of rec.answers) expect(typeof ans, `vqav2 ${i}`).toBe('string');
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it('150 mutated preprocessor configs: refused, or processing gives finite pixels of the model size', async () => {
    const base = JSON.parse(readFileSync(join(FIX, 'images', 'preprocessor_clip.json'), 'utf8'));
    const px = await readImage(join(FIX, 'images', 'rgb.png'));
    let accepted = 0;
    for (let i = 0; i < 150; i++) {
      const cfg = mutate(base);
      const res = await clean(`preprocessor ${i}`, cfg, () => {
        const p = new ImageProcessor(parseProcessorConfig(cfg, 'pp.json'), 3, [14, 14]);
        return p.process(px, 'rgb.png');
      });
      if (!res.ok) continue;
      accepted++;
      expect(res.value.length).toBe(3 * 14 * 14);
      expect(res.value.every(Number.isFinite), `preprocessor ${i}: finite`).toBe(true);
    }
    expect(accepted).toBeGreaterThan(5);
  });

  it('100 mutated tokenizer.json: refused, or every id is an integer inside the vocabulary', async () => {
    for (const kind of ['wordpiece', 'bpe', 'unigram']) {
      const json = JSON.parse(readFileSync(join(FIX, 'tokenizers', kind, 'tokenizer.json'), 'utf8'));
      for (let i = 0; i < 34; i++) {
        const d = scratch();
        const t = mutate(json);
        writeFileSync(join(d, 'tokenizer.json'), JSON.stringify(t));
        copyFileSync(join(FIX, 'tokenizers', kind, 'tokenizer_config.json'), join(d, 'tokenizer_config.json'));
        const res = await clean(`tokenizer ${kind} ${i}`, t, () => {
          const tok = TextTokenizer.fromDir(d);
          return { max: tok.maxId, ids: tok.encode('what is zzqx? héllo', 12).ids };
        });
        if (res.ok)
          for (const id of res.value.ids)
            expect(Number.isInteger(id) && id >= 0 && id <= res.value.max, `tokenizer ${kind} ${i}: id ${id}`).toBe(
              true,
            );
      }
    }
  });

  it('100 mutated HF config.json: a tower spec or a refusal', async () => {
    for (const fam of ['vit', 'bert', 'gpt2', 't5']) {
      const src = join(FIX, 'hf', fam);
      const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
      for (let i = 0; i < 25; i++) {
        const d = scratch();
        const c = mutate(cfg);
        writeFileSync(join(d, 'config.json'), JSON.stringify(c));
        await clean(`config ${fam} ${i}`, c, () => (fam === 'vit' ? hf.vision(d) : hf.text(d)));
      }
    }
  });

  it('60 images with corrupted bytes: decoded to the header size, or refused', async () => {
    for (const name of ['rgb.png', 'photo.jpg', 'cmyk.jpg', 'gray16.png', 'palette.png']) {
      const bytes = readFileSync(join(FIX, 'images', name));
      for (let i = 0; i < 12; i++) {
        const b = Buffer.from(bytes);
        const n = 1 + Math.floor(r() * 4);
        for (let j = 0; j < n; j++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
        const d = scratch();
        writeFileSync(join(d, name), b);
        const res = await clean(`image ${name} ${i}`, name, () => readImage(join(d, name)));
        if (res.ok) expect(res.value.data.length, `image ${name} ${i}`).toBe(res.value.width * res.value.height * 3);
      }
    }
  });

  it('80 mutated HF checkpoints (tensors dropped, renamed, reshaped, transposed, added): imported whole and right-sized, or refused', async () => {
    for (const fam of ['vit', 'gpt2']) {
      const src = join(FIX, 'hf', fam);
      const f = SafetensorsFile.open(join(src, 'model.safetensors'));
      const tensors = new Map(
        [...f.tensors.keys()]
          .filter((k) => f.tensors.get(k)!.dtype === 'F32')
          .map((k) => [k, { shape: f.tensors.get(k)!.shape, data: f.read(k) }]),
      );
      f.close();
      for (let i = 0; i < 40; i++) {
        const t = new Map(tensors);
        const { k, kind } = mutateTensors(t, TENSOR_MUTATIONS);
        const d = scratch();
        copyFileSync(join(src, 'config.json'), join(d, 'config.json'));
        writeFileSync(join(d, 'model.safetensors'), encodeSafetensors(t, { format: 'pt' }));
        const res = await clean(`checkpoint ${fam} ${i} (${kind} ${k})`, kind, () => {
          const spec = parseSpec(
            fam === 'vit'
              ? { vision: hf.vision(d), head: { kind: 'features' } }
              : { text: hf.text(d, { maxLen: 6 }), head: { kind: 'features' } },
          );
          const graph = lowerModel(spec, { batch: 1, mode: 'infer' }).graph;
          return { graph, weights: loadImport(planImport(spec, graph)) };
        });
        if (!res.ok) continue;
        for (const [name, w] of Object.entries(res.value.weights)) {
          const n = res.value.graph
            .params()
            .get(name)!
            .shape.reduce((a, b) => a * b, 1);
          expect(w.length, `checkpoint ${fam} ${i} (${kind} ${k}): ${name}`).toBe(n);
        }
      }
    }
  });

  it('60 mutated init files (tensors dropped, renamed, reshaped, added, bytes cut): loaded whole and right-sized, or refused', async () => {
    const base = tinyVl().freeze('**');
    const graph = lowerModel(base.spec, { batch: 1, mode: 'infer' }).graph;
    const heads = [...graph.params()].filter(([n]) => n.startsWith('head.'));
    const init = initialWeights(graph, 3);
    for (let i = 0; i < 60; i++) {
      const t = new Map(heads.map(([n, p]) => [n, { shape: [...p.shape], data: init[n] }]));
      const { k, kind } = mutateTensors(t, [...TENSOR_MUTATIONS, 'cut'] as const);
      const path = join(scratch(), 'init.safetensors');
      const bytes = encodeSafetensors(t, {});
      writeFileSync(path, kind === 'cut' ? bytes.subarray(0, Math.floor(r() * bytes.length)) : bytes);
      const res = await clean(`init file ${i} (${kind} ${k})`, kind, () =>
        pretrainedWeights(base.init(path).spec, graph),
      );
      if (!res.ok) continue;
      // Accepted only when the file still fits exactly: a subset of the params, each in its own shape.
      const fits = [...t].every(([n, x]) => graph.params().get(n)?.shape.join(',') === x.shape.join(','));
      expect(fits && kind !== 'cut', `init file ${i} (${kind} ${k}) was accepted`).toBe(true);
      for (const [name, w] of Object.entries(res.value.weights)) {
        const n = graph
          .params()
          .get(name)
          ?.shape.reduce((a, b) => a * b, 1);
        expect(w.length, `init file ${i} (${kind} ${k}): ${name}`).toBe(n);
      }
    }
  });

  it("100 mutated tuning files (bench/vqa/tune.ts, a VQA and a caption one): read whole or refused naming the file; what is read keeps the grid's own rules", async () => {
    const read = (name: string) =>
      JSON.parse(readFileSync(join(FIX, '..', '..', 'bench', 'vqa', 'results', `tuning-${name}.json`), 'utf8'));
    const srcs = [read('near'), read('caption')];
    let accepted = 0;
    for (let i = 0; i < 100; i++) {
      const m = mutate(srcs[i % 2]);
      const path = join(scratch(), 'tuning.json');
      writeFileSync(path, JSON.stringify(m));
      const res = await clean(`tuning file ${i}`, m, () => readTuningFile(path));
      if (!res.ok) continue;
      accepted++;
      for (const [key, run] of Object.entries(res.value.runs)) {
        expect(key, `tuning file ${i}`).toBe(`${run.method}@${run.lr}`);
        expect(res.value.config.lrs, `tuning file ${i}`).toContain(run.lr);
        if (run.status === 'ok') expect(run.dev, `tuning file ${i}: ${key}`).toBeGreaterThanOrEqual(0);
        // The score's top is the setting's metric's (accuracy 1, CIDEr-D 10), read independently here.
        const top = res.value.config.setting === 'caption' ? 10 : 1;
        for (const v of [run.dev, run.meanDev])
          if (v !== undefined) expect(v, `tuning file ${i}: ${key}`).toBeLessThanOrEqual(top);
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it('200 mutated checkpoint identity metadata: accepted only when it is the base it claims', async () => {
    const spec = tinyVl()
      .freeze('**')
      .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2 })).spec;
    const graph = lowerModel(spec, { batch: 2, mode: 'train' }).graph;
    const id = backboneIdentity(graph, spec, initialWeights(graph, 1), 1);
    const inputs = inputsIdentity({ answers: ['a', 'b'] });
    const meta = { spec: JSON.parse(JSON.stringify(spec)), backbone: id, inputs };
    for (let i = 0; i < 200; i++) {
      const m = mutate(meta) as Record<string, unknown>;
      const res = await clean(`identity ${i}`, m, () => checkIdentity('ck', m, spec, id, false, inputs));
      if (res.ok) {
        // Accepted: whatever was mutated changes nothing the check compares (a field it does not read).
        expect((m.backbone as typeof id).hash, `identity ${i}`).toBe(id.hash);
      }
    }
  });
});

describe('fuzz: artifact plans', () => {
  const gpu = useGpu();
  it('30 mutated plan.json files: loaded and run, or refused with a message', async () => {
    const spec = tinyVl().spec;
    const dir = scratch();
    writeArtifact(
      dir,
      buildArtifact(spec, { mode: 'infer', batch: 2, buckets: [2], profile: profileOf(gpu()) }).meta,
      join(import.meta.dirname, '..', '..', 'src', 'runtime', 'index.ts'),
    );
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
    const input = {
      image: new Float32Array(2 * 256).fill(0.1),
      tokens: Int32Array.from([1, 2, 3, 1, 2, 3]),
      mask: Float32Array.from([1, 1, 1, 1, 1, 0]),
    };
    for (let i = 0; i < 30; i++) {
      const d = scratch();
      for (const f of readdirSync(dir)) cpSync(join(dir, f), join(d, f), { recursive: true });
      const p = mutate(plan);
      rewritePlan(d, p);
      await clean(`plan ${i}`, p, async () => {
        const a = await Artifact.load(gpu(), d, 'random');
        try {
          return await a.run(input);
        } finally {
          a.destroy();
        }
      });
    }
  });
});
