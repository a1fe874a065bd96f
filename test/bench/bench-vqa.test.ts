/** The MNIST-VQA benchmark protocol: draws, schedule, result tables, and one real run end to end on the GPU. */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { draw, schedule, downstreamPool, testSet } from '../../bench/vqa/protocol.ts';
import {
  budgetLine,
  markdownTable,
  mergeResults,
  runKey,
  saveResults,
  summarize,
  type ResultFile,
  type RunRecord,
} from '../../bench/vqa/results.ts';
import { METHODS, SETTINGS, method } from '../../bench/vqa/methods.ts';
import { gridSlice, runBenchmark } from '../../bench/vqa/bench.ts';
import { loadSettingBackbone } from '../../bench/vqa/run-one.ts';
import { CHECKPOINTS, loadBackbone, saveBackbone } from '../../bench/vqa/weights.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import type { ParamInfo } from '../../src/compiler/ir/graph.ts';
import { useGpu } from '../helpers/gpu.ts';

describe('protocol', () => {
  it('draws k train and k dev examples, disjoint, fixed by the seed', () => {
    const pool = downstreamPool().examples;
    const a = draw(64, 13);
    const b = draw(64, 13);
    const c = draw(64, 21);
    expect(a.train.examples).toHaveLength(64);
    expect(a.dev.examples).toHaveLength(64);
    const ids = (ex: object[]) => ex.map((e) => pool.indexOf(e as (typeof pool)[number]));
    expect(ids(a.train.examples)).toEqual(ids(b.train.examples));
    expect(ids(a.train.examples)).not.toEqual(ids(c.train.examples));
    const train = new Set(ids(a.train.examples));
    expect(ids(a.dev.examples).filter((i) => train.has(i))).toEqual([]);
    expect(() => draw(1500, 13)).toThrow(/pool has 2000/);
  });

  it('scores on downstream questions only, never the pretraining families', () => {
    const fams = new Set(testSet().questions.map((q) => q.family));
    expect([...fams].sort()).toEqual(['larger', 'largest-position', 'sum-parity', 'sum-top']);
  });

  it('budgets steps per k', () => {
    expect(schedule(16)).toMatchObject({ epochs: 300, steps: 300, evalEvery: 15, patience: 5 });
    expect(schedule(64)).toMatchObject({ epochs: 150, steps: 600, evalEvery: 8 });
    expect(schedule(500)).toMatchObject({ epochs: 19, steps: 589, evalEvery: 1 });
    expect(schedule(1000)).toMatchObject({ epochs: 20, steps: 1240, evalEvery: 1 });
    // A budget check scales the epochs and keeps about 20 evaluations per run.
    expect(schedule(1000, 2.5)).toMatchObject({ epochs: 50, steps: 3100, evalEvery: 3, patience: 5 });
    expect(schedule(500, 2.5)).toMatchObject({ epochs: 48, steps: 1488, evalEvery: 2 });
  });

  it('names every method of the issue once', () => {
    const names = METHODS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of ['full', 'bitfit', 'lora', 'houlsby', 'pfeiffer', 'compacter', 'adamix', 'mixphm', 'mixphm+reg'])
      expect(names).toContain(n);
    for (const base of ['lora', 'adapter'])
      for (const r of ['none', 'add', 'mul', 'mulExpand', 'inner']) expect(names).toContain(`${base}/${r}`);
    expect(() => method('loar')).toThrow(/unknown method 'loar'.*lora/);
  });

  it('lowers every method; PEFT methods train only their modules and the head, full finetuning everything', () => {
    for (const m of METHODS) {
      const backboneParams = [
        ...lowerModel(SETTINGS[m.setting].backbone().spec, { batch: 16, mode: 'train' }).graph.params().keys(),
      ];
      const { graph } = lowerModel(m.model().spec, { batch: 16, mode: 'train' });
      const trainable = new Set(
        [...graph.params()].filter(([, n]) => (n.attrs.info as ParamInfo).trainable).map(([k]) => k),
      );
      const trainedBackbone = backboneParams.filter((k) => trainable.has(k) && !k.startsWith('head.'));
      if (m.name.endsWith('full')) expect(trainable.size).toBe(graph.params().size);
      // The ViT frozen, every text-tower weight trained.
      else if (m.name.endsWith('full-text'))
        expect(trainedBackbone, m.name).toEqual(backboneParams.filter((k) => k.startsWith('text.')));
      else if (m.name.endsWith('bitfit'))
        expect(trainedBackbone.length > 0 && trainedBackbone.every((k) => /\.b$/.test(k)), trainedBackbone.join()).toBe(
          true,
        );
      else expect(trainedBackbone, m.name).toEqual([]);
      // The classifier head trains in every method; an LM head (the encoder-decoder's, the caption decoder's) is its embedding table.
      if (m.model().spec.head.kind === 'classifier')
        expect(
          [...trainable].some((k) => k.startsWith('head.')),
          m.name,
        ).toBe(true);
      lowerModel(m.model().spec, { batch: 16, mode: 'infer' });
    }
  });
});

const rec = (m: string, k: number, seed: number, acc: number | null): RunRecord => ({
  method: m,
  setting: 'vl',
  k,
  seed,
  status: acc === null ? 'diverged' : 'ok',
  test: acc === null ? undefined : { accuracy: acc, exactMatch: acc },
  dev: { accuracy: 0, epoch: 0 },
  epochs: 1,
  steps: 1,
  stoppedEarly: false,
  trainable: 1234,
  seconds: 60,
});

describe('results', () => {
  const f: ResultFile = {
    format: 'peftgraph-bench-vqa-1',
    runs: Object.fromEntries(
      [
        rec('lora', 16, 13, 0.5),
        rec('lora', 16, 21, 0.7),
        rec('lora', 16, 42, 0.6),
        rec('bitfit', 16, 13, 0.4),
        rec('bitfit', 16, 21, null),
      ].map((r) => [`${r.method}${r.seed}`, r]),
    ),
  };

  it('takes the mean and sample std over seeds, counting divergences apart', () => {
    const s = summarize(f);
    expect(s.get('lora')!.get(16)!.mean).toBeCloseTo(0.6, 12);
    expect(s.get('lora')!.get(16)!.std).toBeCloseTo(0.1, 12);
    expect(s.get('bitfit')!.get(16)).toMatchObject({ n: 1, diverged: 1, mean: 0.4 });
  });

  it('counts the runs the budget may have cut short', () => {
    const curve = (devs: number[]) => devs.map((dev, i) => ({ step: 10 * (i + 1), loss: 1, dev }));
    const runs = [
      { ...rec('lora', 16, 13, 0.5), curve: curve([0.3, 0.5, 0.4]), stoppedEarly: true },
      { ...rec('lora', 16, 21, 0.5), curve: curve([0.3, 0.4, 0.5]) }, // best at the end of the budget
      { ...rec('lora', 16, 42, 0.5), curve: curve([0.3, 0.5, 0.5]) }, // ties the best at the end: counted
      { ...rec('lora', 16, 87, 0.5), curve: curve([0.5, 0.4, 0.3]) },
      rec('lora', 16, 100, 0.5), // no curve (issue 8's records): not counted
    ];
    expect(budgetLine(runs)).toBe(
      'Budget: of 4 runs with learning curves, 1 stopped early (dev stopped improving), 2 ended on the budget with their best dev accuracy at the last evaluation (possibly still rising).',
    );
  });

  it('writes one row per method with mean ± std in percent', () => {
    const md = markdownTable(f);
    expect(md).toContain('| lora | 1,234 | 60.0 ± 10.0 | 3.0 min |');
    expect(md).toContain('40.0 ± 0.0 (n=1) (1 diverged)');
  });
});

describe('shards and merging', () => {
  const grid = { methods: METHODS.slice(0, 5), ks: [16, 64, 1000], seeds: [13, 21, 42] };
  const key = (r: { m: { name: string }; k: number; seed: number }) => `${r.m.name}|${r.k}|${r.seed}`;
  /** A result file of these runs (and, for a budget check, its step budget) in a fresh folder. */
  const dir = mkdtempSync(join(tmpdir(), 'bench-merge-'));
  const file = (name: string, runs: RunRecord[], budget?: number) => {
    const path = join(dir, name);
    saveResults(path, {
      format: 'peftgraph-bench-vqa-1',
      ...(budget ? { budget } : {}),
      runs: Object.fromEntries(runs.map((r) => [runKey(r.method, r.k, r.seed), r])),
    });
    return path;
  };

  it('n shards cover the grid exactly once, each the same slice on every call', () => {
    const all = gridSlice(grid).map(key);
    for (const n of [1, 2, 7, 45, 50]) {
      const parts = Array.from({ length: n }, (_, i) =>
        gridSlice({ ...grid, shard: { index: i + 1, count: n } }).map(key),
      );
      expect(parts.flat().sort()).toEqual([...all].sort());
      expect(new Set(parts.flat()).size).toBe(all.length);
      expect(Math.max(...parts.map((p) => p.length)) - Math.min(...parts.map((p) => p.length))).toBeLessThanOrEqual(1);
    }
    expect(gridSlice({ ...grid, shard: { index: 2, count: 4 } }).map(key)).toEqual(
      gridSlice({ ...grid, shard: { index: 2, count: 4 } }).map(key),
    );
    expect(() => gridSlice({ ...grid, shard: { index: 5, count: 4 } })).toThrow(/1 <= i <= n/);
  });

  it('merges shard files, accepts the same run twice, refuses two different results for one run', () => {
    const a = file('a.json', [rec('lora', 16, 13, 0.5), rec('lora', 16, 21, 0.7)]);
    const b = file('b.json', [rec('lora', 16, 42, 0.6), { ...rec('lora', 16, 13, 0.5), seconds: 99 }]);
    const merged = mergeResults([a, b]);
    expect(Object.keys(merged.runs).sort()).toEqual(['lora|k=16|seed=13', 'lora|k=16|seed=21', 'lora|k=16|seed=42']);
    expect(summarize(merged).get('lora')!.get(16)!.mean).toBeCloseTo(0.6, 12);
    const c = file('c.json', [rec('lora', 16, 21, 0.1)]);
    expect(() => mergeResults([a, c])).toThrow(/run lora\|k=16\|seed=21 differs between .*a\.json and .*c\.json/);
    expect(() => mergeResults([join(dir, 'none.json')])).toThrow(/no such result file/);
  });

  it('keeps a budget check apart: merges files of one step budget, refuses to mix budgets', () => {
    const long1 = file('long1.json', [rec('lora', 16, 13, 0.5)], 2.5);
    const long2 = file('long2.json', [rec('lora', 16, 21, 0.6)], 2.5);
    const merged = mergeResults([long1, long2]);
    expect(merged.budget).toBe(2.5);
    expect(markdownTable(merged)).toMatch(/Step budget: 2\.5 times the protocol's/);
    const plain = file('plain.json', [rec('lora', 16, 42, 0.7)]);
    expect(markdownTable(mergeResults([plain]))).not.toMatch(/Step budget/);
    expect(() => mergeResults([long1, plain])).toThrow(
      /plain\.json has step budget x1, .*long1\.json x2\.5: merge them apart/,
    );
    expect(() => mergeResults([plain, long1])).toThrow(/long1\.json has step budget x2\.5/);
  });
});

describe('bench vqa end to end', () => {
  const gpu = useGpu();

  it('refuses a missing checkpoint and names the command that makes it, and a joint checkpoint of another layout', () => {
    expect(() => loadSettingBackbone('routing', '/nonexistent')).toThrow(/pretrain\.ts cells --flavor hf/);
    // The routing towers: hf-cells' CLS pooler is left out (the ViT pools the mean of its patch states).
    const routing = loadSettingBackbone('routing');
    const params = [...lowerModel(SETTINGS.routing.backbone().spec, { batch: 1, mode: 'infer' }).graph.params().keys()];
    expect(Object.keys(routing).sort()).toEqual(params.filter((k) => /^(vision|text)\./.test(k)).sort());
    expect(Object.keys(routing).some((k) => k.startsWith('vision.pooler'))).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'bench-joint-'));
    const { weights, meta } = loadBackbone(join(CHECKPOINTS, 'hf-joint.safetensors'));
    const { graph } = lowerModel(SETTINGS.vl.backbone().spec, { batch: 1, mode: 'infer' });
    saveBackbone(join(dir, 'hf-joint.safetensors'), graph, weights, ['vision.', 'prefix.', 'text.', 'head.'], {
      ...meta,
      prefix: 'tokens',
    });
    expect(() => loadSettingBackbone('vl', dir)).toThrow(
      /pretrained with visual prefix 'tokens' \(embedded\); setting 'vl' reads 'regions' \(embedded\)/,
    );
  });

  it('runs one method at k=16 for one seed, records it, and skips it when resumed', async () => {
    const out = mkdtempSync(join(tmpdir(), 'bench-vqa-'));
    const o = { methods: [method('mixphm')], ks: [16], seeds: [13], out, log: () => undefined };
    const first = await runBenchmark(gpu(), o);
    expect(first.ran).toBe(1);
    const r = Object.values(first.results.runs)[0];
    expect(r).toMatchObject({ method: 'mixphm', k: 16, seed: 13, status: 'ok', setting: 'vl' });
    expect(r.test!.accuracy).toBeGreaterThanOrEqual(0);
    expect(r.test!.accuracy).toBeLessThanOrEqual(1);
    expect(r.steps).toBeGreaterThan(0);
    expect(r.steps).toBeLessThanOrEqual(schedule(16).steps);
    expect(r.curve!.length).toBeGreaterThan(0);
    expect(r.curve!.at(-1)!.step).toBe(r.steps);
    expect(Math.max(...r.curve!.map((c) => c.dev))).toBeCloseTo(r.dev!.accuracy, 4);
    const { graph } = lowerModel(method('mixphm').model().spec, { batch: 16, mode: 'train' });
    const trainable = [...graph.params()].filter(([, n]) => (n.attrs.info as ParamInfo).trainable);
    expect(trainable.every(([name]) => !name.startsWith('vision.'))).toBe(true);
    expect(r.trainable).toBe(trainable.reduce((a, [, n]) => a + n.shape.reduce((p, q) => p * q, 1), 0));
    const saved = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as ResultFile;
    expect(Object.keys(saved.runs)).toEqual(['mixphm|k=16|seed=13']);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toMatch(/\| mixphm \| [\d,]+ \| \d+\.\d ± 0\.0 \(n=1\) \|/);
    expect(readFileSync(join(out, 'accuracy-vl.svg'), 'utf8')).toMatch(/^<svg/);
    expect(existsSync(join(out, 'accuracy-routing.svg'))).toBe(false);
    expect(readFileSync(join(out, 'curves.svg'), 'utf8')).toMatch(/^<svg/);

    const again = await runBenchmark(gpu(), o);
    expect(again.ran).toBe(0);
    const stopped = await runBenchmark(gpu(), { ...o, seeds: [13, 21], signal: AbortSignal.abort() });
    expect(stopped.ran).toBe(0);
    expect(Object.keys(stopped.results.runs)).toHaveLength(1);
    // A budget check never lands in a file of protocol runs (or the reverse).
    await expect(runBenchmark(gpu(), { ...o, budget: 2 })).rejects.toThrow(
      /holds runs with step budget x1, this call asks for x2: give it another --out/,
    );
  });
});
