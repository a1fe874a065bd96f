/**
 * Issue 35's near-transfer data (bench/vqa/near.ts): the three shifts it claims, each checked from
 * the generated sets: digit samples held out from pretraining, new templates with answers
 * re-derived independently from the words, and the shifted answer distribution.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_FAMILIES, POSITIONS, mnistVqa, pool } from '../../bench/vqa/mnist-vqa.ts';
import { DIGIT_WEIGHTS, NEAR_DOWNSTREAM, NEAR_PRETRAIN, NEAR_TEST, nearPool, nearTest } from '../../bench/vqa/near.ts';
import { asFlavor } from '../../bench/vqa/flavor.ts';
import { questionText } from '../../bench/vqa/text.ts';
import { METHODS, NEAR_ENCDEC_TUNED, NEAR_TUNED, ROUTED_TUNED, SETTINGS, method } from '../../bench/vqa/methods.ts';
import { runBenchmark } from '../../bench/vqa/bench.ts';
import { loadSettingBackbone } from '../../bench/vqa/run-one.ts';
import { choose, readTuningFile, tuningReport, type TuningFile } from '../../bench/vqa/tuning.ts';
import { draw, familyPriorAccuracy, testSet } from '../../bench/vqa/protocol.ts';
import { CHECKPOINTS, loadBackbone, saveBackbone } from '../../bench/vqa/weights.ts';
import { flavorOf, jointOf } from '../../bench/vqa/model.ts';
import { encodeSafetensors, readSafetensors } from '../../src/runtime/safetensors.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { prng } from '../../src/runtime/init.ts';
import { mutator } from '../helpers/mutate.ts';
import { paramInfo } from '../../src/compiler/ir/attrs.ts';

/** The downstream templates read independently: from the words and the scene's cells to the answer. */
function oracle(words: string[], cells: number[]): string {
  const s = words.join(' ');
  const present = cells.filter((d) => d >= 0);
  const named = words.find((w) => /^d\d$/.test(w));
  const d = named ? Number(named.slice(1)) : -1;
  const at = (w: string) => cells[POSITIONS.indexOf(w as (typeof POSITIONS)[number])];
  if (s.startsWith('which digit is the')) return at(words[4]) < 0 ? 'none' : String(at(words[4]));
  if (/^is a d\d there \?$/.test(s)) return present.includes(d) ? 'yes' : 'no';
  if (s === 'there are how many digits ?') return String(present.length);
  if (/^there are how many d\d \?$/.test(s)) return String(present.filter((x) => x === d).length);
  if (s === 'what is the sum of the two top digits ?') return String(Math.max(cells[0], 0) + Math.max(cells[1], 0));
  if (s === 'is the bottom-right digit larger than the top-left digit ?') return cells[3] > cells[0] ? 'yes' : 'no';
  if (s === 'the largest digit is at which position ?') return POSITIONS[cells.indexOf(Math.max(...cells))];
  if (s === 'the sum of all digits is even ?') return present.reduce((a, b) => a + b, 0) % 2 ? 'no' : 'yes';
  throw new Error(`not a downstream template: ${s}`);
}

/** A question's template: its digit words masked (positions kept: 'larger' is worded by them). */
const template = (words: string[]) => words.map((w) => (/^d\d$/.test(w) ? '<d>' : w)).join(' ');

describe('near-transfer data', () => {
  const pre = mnistVqa({ ...NEAR_PRETRAIN, n: 1500, seed: 5 });
  const down = mnistVqa({ ...NEAR_DOWNSTREAM, n: 1500, seed: 6 });
  const test = mnistVqa({ ...NEAR_TEST, n: 600, seed: 7 });

  it('draws pretraining, downstream and test scenes from disjoint digit samples of each class', () => {
    const range = (set: typeof pre) => {
      const ids = new Map<number, number[]>();
      set.scenes.forEach((sc) =>
        sc.cells.forEach((d, c) => d >= 0 && ids.set(d, [...(ids.get(d) ?? []), sc.sampleIds[c]])),
      );
      return ids;
    };
    const [a, b, t] = [range(pre), range(down), range(test)];
    for (let d = 0; d < 10; d++) {
      const maxPre = Math.max(...a.get(d)!);
      const [minDown, maxDown] = [Math.min(...b.get(d)!), Math.max(...b.get(d)!)];
      expect(maxPre).toBeLessThan(minDown);
      expect(maxDown).toBeLessThan(Math.min(...t.get(d)!));
      expect(minDown).toBeGreaterThanOrEqual(pool('adapt', d)[0]);
      expect(maxPre).toBeLessThan(pool('pretrain', d)[1]);
    }
  });

  it('words every family downstream in templates pretraining never uses, with answers that follow from the words', () => {
    const preTemplates = new Set(pre.questions.map((q) => template(q.words)));
    const downTemplates = new Set(down.questions.map((q) => template(q.words)));
    expect(new Set(down.questions.map((q) => q.family))).toEqual(new Set(ALL_FAMILIES));
    for (const t of downTemplates) expect(preTemplates.has(t), t).toBe(false);
    // And with positions masked too, every family but 'larger' (which swaps its two positions).
    const isPos = (x: string) => (POSITIONS as readonly string[]).includes(x);
    const shape = (w: string[]) => template(w.map((x) => (isPos(x) ? '<pos>' : x)));
    const preShapes = new Set(pre.questions.map((q) => shape(q.words)));
    for (const q of down.questions) if (q.family !== 'larger') expect(preShapes.has(shape(q.words))).toBe(false);
    down.questions.forEach((q, i) => expect(q.answer, q.words.join(' ')).toBe(oracle(q.words, down.scenes[i].cells)));
    // 'larger' asks the other way round: its answer is not the pretraining template's.
    const larger = down.questions.flatMap((q, i) => (q.family === 'larger' ? [i] : []));
    expect(larger.length).toBeGreaterThan(20);
    for (const i of larger) {
      const [tl, br] = [down.scenes[i].cells[0], down.scenes[i].cells[3]];
      expect(down.questions[i].answer).toBe(br > tl ? 'yes' : 'no');
    }
  });

  it('rewords without changing the draws: the same seed gives the same scenes, families and operands', () => {
    const a = mnistVqa({ ...NEAR_DOWNSTREAM, phrasing: 'pretrain', n: 200, seed: 9 });
    const b = mnistVqa({ ...NEAR_DOWNSTREAM, n: 200, seed: 9 });
    expect(b.scenes).toEqual(a.scenes);
    expect(b.questions.map((q) => q.family)).toEqual(a.questions.map((q) => q.family));
    const operands = (w: string[]) => w.filter((x) => /^d\d$/.test(x) || (POSITIONS as readonly string[]).includes(x));
    b.questions.forEach((q, i) => {
      if (q.family !== 'larger') expect(operands(q.words)).toEqual(operands(a.questions[i].words));
    });
  });

  it('shifts the answer distribution: fewer empty cells and digits weighted towards 9', () => {
    const cells = (set: typeof pre) => set.scenes.flatMap((s) => s.cells);
    const share = (xs: number[], f: (d: number) => boolean) => xs.filter(f).length / xs.length;
    const [p, d] = [cells(pre), cells(down)];
    expect(share(p, (x) => x < 0)).toBeGreaterThan(0.2);
    expect(share(d, (x) => x < 0)).toBeLessThan(0.14);
    const nines = (xs: number[]) =>
      share(
        xs.filter((x) => x >= 0),
        (x) => x === 9,
      );
    const zeros = (xs: number[]) =>
      share(
        xs.filter((x) => x >= 0),
        (x) => x === 0,
      );
    expect(nines(p) / zeros(p)).toBeLessThan(1.5);
    // Expected DIGIT_WEIGHTS[9] / DIGIT_WEIGHTS[0] = 6.
    expect(nines(d) / zeros(d)).toBeGreaterThan(DIGIT_WEIGHTS[9] / DIGIT_WEIGHTS[0] / 1.6);
    const count = (set: typeof pre) =>
      set.questions
        .flatMap((q) => (q.family === 'count' ? [Number(q.answer)] : []))
        .reduce((a, b, _, xs) => a + b / xs.length, 0);
    expect(count(down)).toBeGreaterThan(count(pre) + 0.4);
  });

  it('refuses digit weights it cannot draw from, naming them', () => {
    expect(() => mnistVqa({ ...NEAR_DOWNSTREAM, digitWeights: [1, 2], n: 1, seed: 1 })).toThrow(
      /10 finite non-negative weights, not all 0, with a finite sum \(got \[1,2\]\)/,
    );
    expect(() => mnistVqa({ ...NEAR_DOWNSTREAM, digitWeights: Array(10).fill(0), n: 1, seed: 1 })).toThrow(/not all 0/);
  });

  it('the pool and the test set read through the HF tokenizer with no unknown piece, and as the native vocabulary', () => {
    const hf = nearTest('hf');
    const unk = 1; // [UNK] in text.ts's vocabulary
    for (const e of hf.examples) expect([...(e.tokens as Int32Array)].includes(unk)).toBe(false);
    expect(nearPool('native').examples.length).toBe(2000);
    expect(questionText(nearTest('native').questions[0])).toMatch(/\?$/);
    // The encoder-decoder's inputs too: no <unk> (id 2 in t5.ts's vocabulary).
    const t5 = asFlavor(mnistVqa({ ...NEAR_TEST, n: 300, seed: 3 }), 't5');
    for (const e of t5.examples) expect([...(e.tokens as Int32Array)].includes(2)).toBe(false);
  });
});

describe('the near setting in the benchmark', () => {
  it('has every joint-model method as a near/ twin, at the rate tune.ts chose on dev (results/tuning-near.json)', () => {
    const vl = METHODS.filter((m) => m.setting === 'vl').map((m) => m.name);
    const near = METHODS.filter((m) => m.setting === 'near');
    expect(near.map((m) => m.name)).toEqual(vl.map((n) => `near/${n}`));
    const tuning: TuningFile = readTuningFile('bench/vqa/results/tuning-near.json');
    const chosen = choose(
      tuning,
      near.map((m) => m.name),
    );
    for (const m of near) {
      expect(m.tuned, m.name).toBe(true);
      expect(m.lr, m.name).toBe(chosen.get(m.name)!.lr);
      expect(NEAR_TUNED[m.name]).toBe(m.lr);
    }
    // Every method ran at every rate of the one grid.
    for (const m of near)
      for (const lr of tuning.config.lrs) expect(tuning.runs[`${m.name}@${lr}`], `${m.name}@${lr}`).toBeDefined();
    // Every other setting's methods run at their recorded rates (near-routing's and caption's: ROUTED_TUNED, below).
    const others = METHODS.filter((m) => !['near', 'near-encdec', 'near-routing', 'caption'].includes(m.setting));
    expect(others.every((m) => m.tuned !== false)).toBe(true);
  });

  it('refuses to run a grid of a method whose rate was not tuned, naming it', async () => {
    const untuned = { ...METHODS.find((m) => m.name === 'near/mixphm')!, tuned: false };
    const out = join(mkdtempSync(join(tmpdir(), 'untuned-')), 'grid');
    await expect(runBenchmark(null as never, { methods: [untuned], ks: [16], seeds: [13], out })).rejects.toThrow(
      /near\/mixphm: no tuned learning rate yet; run bench\/vqa\/tune.ts/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('draws k-shot sets, the test set and the floor from the near-transfer data', () => {
    expect(SETTINGS.near.data).toBe('near');
    const { train, dev } = draw(16, 13, 'native', 'near');
    const pool = nearPool('native');
    expect(train.examples.every((e) => pool.examples.includes(e as never))).toBe(true);
    expect(dev.examples.some((e) => train.examples.includes(e))).toBe(false);
    expect(testSet('native', 'near')).toBe(nearTest('native'));
    expect(() => draw(1001, 13, 'native', 'near')).toThrow(/needs 2002 pool examples, the pool has 2000/);
    const floor = familyPriorAccuracy('near');
    expect(floor).toBeGreaterThan(0.2);
    expect(floor).not.toBeCloseTo(familyPriorAccuracy(), 3);
  });

  it("the routing setting's alignment data: what-is-where families only, the same shifts, its own floor; the gate's full-text method trains the text tower alone", () => {
    expect(SETTINGS['near-routing'].data).toBe('near-align');
    const pool = nearPool('native', 'near-align');
    const test = nearTest('native', 'near-align');
    for (const set of [pool, test])
      expect(new Set(set.questions.map((q) => q.family))).toEqual(new Set(['digit-at', 'is-there', 'count-digit']));
    // The same shifts as the joint setting's: downstream templates, no empty-cell share near 0.25.
    const words = (set: typeof pool) => set.questions.map((q) => q.words.join(' '));
    const joint = new Set(
      words(nearPool('native')).map((w) => w.replace(/d\d|top-left|top-right|bottom-left|bottom-right/g, '_')),
    );
    expect(
      words(pool).every((w) => joint.has(w.replace(/d\d|top-left|top-right|bottom-left|bottom-right/g, '_'))),
    ).toBe(true);
    const cells = pool.scenes.flatMap((sc) => sc.cells);
    expect(cells.filter((c) => c === null).length / cells.length).toBeLessThan(0.15);
    const { train } = draw(16, 13, 'native', 'near-align');
    expect(train.examples.every((e) => pool.examples.includes(e as never))).toBe(true);
    expect(testSet('native', 'near-align')).toBe(test);
    // The floor, counted here from the pool's annotations (not the protocol's soft targets).
    const best = new Map<string, Map<string, number>>();
    pool.questions.forEach((q, i) => {
      const m = best.get(q.family) ?? new Map<string, number>();
      for (const a of pool.annotations[i]) m.set(a, (m.get(a) ?? 0) + 1);
      best.set(q.family, m);
    });
    const top = (f: string) => [...best.get(f)!].sort((a, b) => b[1] - a[1])[0][0];
    const floor =
      test.questions.reduce(
        (acc, q, i) => acc + Math.min(1, test.annotations[i].filter((a) => a === top(q.family)).length / 3),
        0,
      ) / test.questions.length;
    expect(familyPriorAccuracy('near-align')).toBeCloseTo(floor, 6);
    const routing = METHODS.filter((m) => m.setting === 'near-routing');
    expect(routing.map((m) => m.name)).toContain('near-routing/lora/inner');
    // The gate's second ceiling: every text-tower and head weight trains, no ViT weight does.
    const params = [
      ...lowerModel(method('near-routing/full-text').model().spec, { batch: 1, mode: 'train' }).graph.params(),
    ];
    const trains = (p: RegExp) => params.filter(([n]) => p.test(n)).map(([, node]) => paramInfo(node).trainable);
    expect(trains(/^vision\./).length).toBeGreaterThan(10);
    expect(trains(/^vision\./).every((t) => t === false)).toBe(true);
    expect(trains(/^(text|head)\./).every((t) => t === true)).toBe(true);
    expect(trains(/^(text|head)\./).length + trains(/^vision\./).length).toBe(params.length);
    expect(METHODS.some((m) => m.name === 'caption/full-text')).toBe(false);
  });

  it.each(['near-routing', 'caption'] as const)(
    '%s: a method is tuned exactly where ROUTED_TUNED holds the rate tune.ts chose on dev, with every rate of the grid run',
    (s) => {
      const mine = METHODS.filter((m) => m.setting === s);
      const tuning = readTuningFile(`bench/vqa/results/tuning-${s}.json`);
      expect(tuning.config).toMatchObject({ setting: s, k: 1000, seed: 1 });
      // The five-rate grid, extended upward where a method chose its top (as near's was).
      expect(tuning.config.lrs.slice(0, 5)).toEqual([2e-4, 1e-3, 5e-3, 1.5e-2, 4.5e-2]);
      const chosen = choose(
        tuning,
        mine.map((m) => m.name),
      );
      for (const m of mine) {
        const rec = ROUTED_TUNED[s][m.name];
        expect(m.tuned, m.name).toBe(rec !== undefined);
        expect(m.lr, m.name).toBe(rec ?? 3e-4);
        if (rec === undefined) continue;
        expect(rec, m.name).toBe(chosen.get(m.name)?.lr);
        for (const lr of tuning.config.lrs) expect(tuning.runs[`${m.name}@${lr}`], `${m.name}@${lr}`).toBeDefined();
      }
      // Nothing recorded for a method the setting lacks (a misspelt name would stay a placeholder).
      for (const n of Object.keys(ROUTED_TUNED[s])) expect(mine.map((m) => m.name)).toContain(n);
    },
  );

  it("the encoder-decoder's near setting: the longer-pretrained checkpoint, near questions as T5 reads them, rates tuned on dev", () => {
    expect(SETTINGS['near-encdec']).toMatchObject({ flavor: 't5', files: ['hf-near-vlt5b'], data: 'near' });
    const weights = loadSettingBackbone('near-encdec');
    expect(Object.keys(weights).some((k) => k.startsWith('decoder.'))).toBe(true);
    const { train } = draw(16, 13, 't5', 'near');
    // Generated answers are scored against each question's soft scores: the draw carries them.
    expect(train.answers?.scores).toHaveLength(16);
    expect(train.examples.every((e) => nearPool('t5').examples.includes(e as never))).toBe(true);
    const mine = METHODS.filter((m) => m.setting === 'near-encdec');
    expect(mine.map((m) => m.name).sort()).toEqual([
      'near-encdec/full',
      'near-encdec/lora',
      'near-encdec/mixphm',
      'near-encdec/mixphm+reg',
    ]);
    // Each at the rate tune.ts chose on one grid, every rate run (results/tuning-near-encdec.json).
    const tuning = readTuningFile('bench/vqa/results/tuning-near-encdec.json');
    const chosen = choose(
      tuning,
      mine.map((m) => m.name),
    );
    for (const m of mine) {
      expect(m.tuned, m.name).toBe(true);
      expect(m.lr, m.name).toBe(chosen.get(m.name)!.lr);
      expect(NEAR_ENCDEC_TUNED[m.name]).toBe(m.lr);
      for (const lr of tuning.config.lrs) expect(tuning.runs[`${m.name}@${lr}`]?.status, `${m.name}@${lr}`).toBe('ok');
    }
    expect(tuning.config).toMatchObject({ setting: 'near-encdec', k: 1000, seed: 1 });
  });

  it('tuning picks the best dev rate per method; a tie by the mean dev, then the smaller rate; never a diverged run', () => {
    const run = (method: string, lr: number, dev?: number, meanDev?: number) => ({
      method,
      lr,
      status: dev === undefined ? ('diverged' as const) : ('ok' as const),
      dev,
      meanDev,
      steps: 1,
      seconds: 1,
    });
    const f: TuningFile = {
      format: 'peftgraph-bench-vqa-tuning-1',
      config: { setting: 'near', lrs: [5e-3, 5e-4, 1.5e-3], k: 100, seed: 1 },
      runs: Object.fromEntries(
        [
          run('a', 5e-4, 0.5),
          run('a', 1.5e-3, 0.6),
          run('a', 5e-3, 0.6),
          run('b', 5e-3),
          run('b', 5e-4, 0.1),
          // d ties at its start: the rate whose run rose on average wins, not the smaller.
          run('d', 5e-4, 0.68, 0.66),
          run('d', 1.5e-3, 0.68, 0.67),
          run('d', 5e-3, 0.6, 0.59),
        ].map((r) => [`${r.method}@${r.lr}`, r]),
      ),
    };
    expect(choose(f, ['a', 'b', 'c', 'd'])).toEqual(
      new Map([
        ['a', { lr: 1.5e-3, dev: 0.6 }],
        ['b', { lr: 5e-4, dev: 0.1 }],
        ['c', null],
        ['d', { lr: 1.5e-3, dev: 0.68 }],
      ]),
    );
  });

  it("reads a dev score up to its setting's own top: CIDEr-D up to 10 for captions, accuracy up to 1 for VQA", () => {
    // The caption file's best runs score above 1 (CIDEr-D); a reader capped at 1 refused it and
    // stopped the tuning on resume.
    const caption = readTuningFile('bench/vqa/results/tuning-caption.json');
    expect(Math.max(...Object.values(caption.runs).map((r) => r.dev ?? 0))).toBeGreaterThan(1);
    // Its report names its score: CIDEr-D x100 (full finetuning's 2.918 at 1e-3 reads 291.8).
    const report = tuningReport(caption, ['caption/full']);
    expect(report).toContain('best dev CIDEr-D (x100)');
    expect(report).toMatch(/\| caption\/full \| [\d.]+ \| 291\.8 \|/);
    expect(tuningReport(readTuningFile('bench/vqa/results/tuning-near.json'), ['near/full'])).toContain(
      'best dev VQA accuracy (%)',
    );
    const dir = mkdtempSync(join(tmpdir(), 'tuning-'));
    try {
      const write = (setting: string, dev: number) => {
        const path = join(dir, `${setting}-${dev}.json`);
        const run = { method: 'm', lr: 1e-3, status: 'ok', dev, steps: 1, seconds: 1 };
        const f = {
          format: 'peftgraph-bench-vqa-tuning-1',
          config: { setting, lrs: [1e-3], k: 1, seed: 1 },
          runs: { 'm@0.001': run },
        };
        writeFileSync(path, JSON.stringify(f));
        return path;
      };
      expect(readTuningFile(write('caption', 9.5)).runs['m@0.001'].dev).toBe(9.5);
      expect(() => readTuningFile(write('caption', 10.5))).toThrow(
        /runs\.m@0\.001\.dev: 10\.5 is above 10, the most a caption score/,
      );
      expect(readTuningFile(write('near', 1)).runs['m@0.001'].dev).toBe(1);
      expect(() => readTuningFile(write('near', 1.2))).toThrow(/dev: 1\.2 is above 1, the most a near score/);
      expect(() => readTuningFile(write('nearby', 0.5))).toThrow(/config\.setting: .*"caption"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('near data options, mutated', () => {
  // Read apart from mnist-vqa.ts's own check: what a draw's options may be.
  const valid = (o: Record<string, unknown>): boolean => {
    const prob = (p: unknown) => p === undefined || (typeof p === 'number' && p >= 0 && p < 1);
    const w = o.digitWeights;
    return (
      ['train', 'test', 'pretrain', 'adapt'].includes(o.split as string) &&
      Array.isArray(o.families) &&
      o.families.length > 0 &&
      // Array.from: every() skips a deleted element's hole, the draw does not.
      Array.from(o.families).every((f) => (ALL_FAMILIES as readonly unknown[]).includes(f)) &&
      (o.phrasing === undefined || o.phrasing === 'pretrain' || o.phrasing === 'downstream') &&
      (w === undefined ||
        (Array.isArray(w) &&
          w.length === 10 &&
          Array.from(w).every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0) &&
          w.some((x) => x > 0) &&
          Number.isFinite(w.reduce((a: number, b: number) => a + b, 0)))) &&
      prob(o.noise) &&
      prob(o.empty) &&
      (o.shift === undefined || (Number.isInteger(o.shift) && (o.shift as number) >= 0 && (o.shift as number) <= 4)) &&
      Number.isSafeInteger(o.n) &&
      (o.n as number) >= 0 &&
      Number.isSafeInteger(o.seed)
    );
  };

  it('150 mutated draws of the near distributions: each is drawn as asked or refused by name, never a TypeError or a silent default', () => {
    const r = prng(20261207);
    const weird = [-1, 0, 0.5, 1, 2, 5, 7.5, Number.NaN, Number.POSITIVE_INFINITY, '', 'x', null, true, [], {}, [1, 2]];
    const mutate = mutator(r, weird, 2);
    const bases = [NEAR_PRETRAIN, NEAR_DOWNSTREAM, NEAR_TEST].map((d) => ({
      ...d,
      n: 6,
      seed: 3,
      shift: 1,
      noise: 0.1,
    }));
    let [drawn, refused] = [0, 0];
    for (let i = 0; i < 150; i++) {
      const o = mutate(bases[i % 3]) as Record<string, unknown>;
      const shown = JSON.stringify(o, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
      let set: ReturnType<typeof mnistVqa> | undefined;
      try {
        set = mnistVqa(o as never);
      } catch (e) {
        expect((e as Error).message, shown).toMatch(/^mnist-vqa: /);
        expect(valid(o), `refused a valid draw: ${shown}`).toBe(false);
        refused++;
        continue;
      }
      expect(valid(o), `drew an invalid one: ${shown}`).toBe(true);
      expect(set.examples).toHaveLength(o.n as number);
      for (const q of set.questions) expect(o.families).toContain(q.family);
      drawn++;
    }
    // Both outcomes represented (this seed: 23 drawn, 127 refused).
    expect(drawn).toBeGreaterThan(15);
    expect(refused).toBeGreaterThan(60);
  });

  it("a far checkpoint is refused under a near setting, by its metadata's 'data'", () => {
    const dir = mkdtempSync(join(tmpdir(), 'near-meta-'));
    for (const f of SETTINGS['near-encdec'].files) {
      const { weights, meta } = loadBackbone(join(CHECKPOINTS, `${f}.safetensors`));
      const { graph } = lowerModel(SETTINGS['near-encdec'].backbone().spec, { batch: 1, mode: 'infer' });
      const keep = ['vision.', 'prefix.', 'shared.', 'encoder.', 'decoder.'];
      const { data: _near, ...far } = meta;
      saveBackbone(join(dir, `${f}.safetensors`), graph, weights, keep, far);
      expect(() => loadSettingBackbone('near-encdec', dir)).toThrow(
        /was pretrained for far transfer; setting 'near-encdec' \(data near\) needs a near-transfer checkpoint/,
      );
      saveBackbone(join(dir, `${f}.safetensors`), graph, weights, keep, { ...meta, data: 'nearish' });
      expect(() => loadSettingBackbone('near-encdec', dir)).toThrow(/metadata data 'nearish' \(valid: near/);
      saveBackbone(join(dir, `${f}.safetensors`), graph, weights, keep, meta);
    }
    try {
      expect(Object.keys(loadSettingBackbone('near-encdec', dir)).length).toBeGreaterThan(0);
      // And the reverse: the near checkpoint under the far encoder-decoder's name.
      const { graph } = lowerModel(SETTINGS.encdec.backbone().spec, { batch: 1, mode: 'infer' });
      const near = loadBackbone(join(dir, 'hf-near-vlt5b.safetensors'));
      for (const f of SETTINGS.encdec.files)
        saveBackbone(
          join(dir, `${f}.safetensors`),
          graph,
          near.weights,
          ['vision.', 'prefix.', 'shared.', 'encoder.', 'decoder.'],
          near.meta,
        );
      expect(() => loadSettingBackbone('encdec', dir)).toThrow(
        /was pretrained for near transfer; setting 'encdec' \(data far\) needs a far-transfer checkpoint/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('150 mutated backbone metadata (format, task, flavor, data, prefix, embed) under a joint and a two-tower setting: loaded only when it says what the setting reads', () => {
    const rnd = prng(20261208);
    const pickOf = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const FIELDS = ['format', 'task', 'flavor', 'data', 'prefix', 'embed'] as const;
    // undefined: the field deleted.
    const VALUES = [
      undefined,
      '',
      'near',
      'far',
      'nearish',
      'vl',
      'text',
      'vision',
      'vlt5',
      'regions',
      'pooled',
      'tokens',
      'true',
      'false',
      'TRUE',
      'peftgraph-mnist-vqa-backbone-1',
      'peftgraph-mnist-vqa-backbone-2',
      'hf',
      'HF',
      't5',
      'native',
    ];
    const read = (f: string) => readSafetensors(join(CHECKPOINTS, `${f}.safetensors`));
    const files = Object.fromEntries(
      (['near', 'near-routing'] as const).flatMap((s) => SETTINGS[s].files).map((f) => [f, read(f)]),
    );
    const dir = mkdtempSync(join(tmpdir(), 'near-meta-fuzz-'));
    let loaded = 0;
    try {
      for (let i = 0; i < 150; i++) {
        const setting = i % 2 ? 'near' : 'near-routing';
        const target = pickOf(SETTINGS[setting].files);
        const field = pickOf(FIELDS);
        // A third of the draws write the file's own value back (a mutation that changes nothing), so
        // both outcomes are common.
        const value = rnd() < 1 / 3 ? files[target].metadata[field] : pickOf(VALUES);
        const metas: Record<string, Record<string, string>> = {};
        for (const f of SETTINGS[setting].files) {
          const meta = { ...files[f].metadata };
          if (f === target) {
            if (value === undefined) delete meta[field];
            else meta[field] = value;
          }
          metas[f] = meta;
          writeFileSync(join(dir, `${f}.safetensors`), encodeSafetensors(files[f].tensors, meta));
        }
        // What the setting reads, stated here from the committed files' own metadata: every file
        // the benchmark's format, the task and flavor the committed file has, near data, a known
        // (or absent, 'pooled') prefix and a 'true'/'false' (or absent) embed; the joint setting's
        // file a vl one of its layout.
        const valid = Object.entries(metas).every(
          ([f, m]) =>
            m.format === 'peftgraph-mnist-vqa-backbone-1' &&
            m.task === files[f].metadata.task &&
            m.flavor === 'hf' &&
            m.data === 'near' &&
            [undefined, 'pooled', 'tokens', 'regions'].includes(m.prefix) &&
            [undefined, 'true', 'false'].includes(m.embed) &&
            (setting !== 'near' || (m.task === 'vl' && m.prefix === 'regions' && m.embed === 'true')),
        );
        const what = `${i}: ${setting}, ${target}.${field} = ${JSON.stringify(value)}`;
        let ok = true;
        try {
          loadSettingBackbone(setting, dir);
        } catch (e) {
          ok = false;
          // Refused by name: the file, or the setting and what it reads.
          expect((e as Error).message, what).toMatch(new RegExp(`${target}\\.safetensors|setting '${setting}'`));
        }
        expect(ok, what).toBe(valid);
        if (ok) loaded++;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Both outcomes, often.
    expect(loaded).toBeGreaterThan(15);
    expect(loaded).toBeLessThan(135);
  });

  it("a checkpoint's flavor and joint layout are read from its metadata, absent as the first ones were written, else refused by the file's name", () => {
    expect(flavorOf({}, 'a.safetensors')).toBe('native');
    expect(flavorOf({ flavor: 't5' }, 'a.safetensors')).toBe('t5');
    expect(() => flavorOf({ flavor: 'HF' }, 'a.safetensors')).toThrow(
      "a.safetensors: metadata flavor 'HF' (valid: native, hf, t5)",
    );
    expect(jointOf({}, 'a.safetensors')).toEqual({ prefix: 'pooled', embed: false });
    expect(jointOf({ prefix: 'regions', embed: 'true' }, 'a.safetensors')).toEqual({ prefix: 'regions', embed: true });
    expect(() => jointOf({ prefix: 'region' }, 'a.safetensors')).toThrow(
      "a.safetensors: metadata prefix 'region' (valid: pooled, tokens, regions)",
    );
    expect(() => jointOf({ embed: 'yes' }, 'a.safetensors')).toThrow(
      "a.safetensors: metadata embed 'yes' (valid: true, false)",
    );
  });

  it('refuses a draw whose families no scene can ask, instead of drawing forever', () => {
    const one = Array.from({ length: 10 }, (_, d) => (d === 4 ? 1 : 0));
    expect(() =>
      mnistVqa({ ...NEAR_DOWNSTREAM, families: ['larger'], digitWeights: one, empty: 0, n: 1, seed: 1 }),
    ).toThrow(/10,000 scenes in a row suit none of the families larger/);
  });
});
