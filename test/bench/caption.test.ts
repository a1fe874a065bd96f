/**
 * The captioning setting's data and model (issue 35, part 3): captions that say what the scene
 * holds (read back here independently), k-shot draws in images, the step budget counted in
 * captions, and one short run end to end through training, greedy captions and CIDEr-D.
 */
import { describe, expect, it } from 'vitest';
import { TextTokenizer } from '../../src/data/tokenizer.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { Evaluator, train, trainConfig } from '../../src/train/trainer.ts';
import { CAPTION_LEN, captionIds, captionsOf, captionTokenizerDir } from '../../bench/vqa/captions.ts';
import { CAPTION_POOL, CAPTION_TEST, captionDraw, captionPool, captionTest } from '../../bench/vqa/caption-data.ts';
import { METHODS, SETTINGS, method } from '../../bench/vqa/methods.ts';
import { draw, schedule, testData } from '../../bench/vqa/protocol.ts';
import { useGpu } from '../helpers/gpu.ts';

const WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

describe('captioning setting', () => {
  const gpu = useGpu();

  it('captions name every digit of a scene, in reading order, and how many there are', () => {
    const pool = captionPool();
    expect(pool.images).toHaveLength(CAPTION_POOL);
    // An independent reading: from a caption back to the cells it describes.
    const positions = ['top left', 'top right', 'bottom left', 'bottom right'];
    const readCells = (c: string) => {
      const cells = [-1, -1, -1, -1];
      for (const m of c.matchAll(/(\w+) at the (top left|top right|bottom left|bottom right)/g))
        cells[positions.indexOf(m[2])] = WORDS.indexOf(m[1]);
      return cells;
    };
    const set = captionTest();
    expect(set.captions).toHaveLength(CAPTION_TEST);
    for (const caps of [...pool.captions.slice(0, 200), ...set.captions]) {
      expect(caps).toHaveLength(3);
      const digits = caps[1] === 'an empty grid' ? [] : caps[1].replace(/ and /g, ' ').split(/ ?a /).filter(Boolean);
      if (caps[0] === 'an empty grid') {
        expect(caps).toEqual(['an empty grid', 'a grid with zero digits', 'zero digits']);
        continue;
      }
      const cells = readCells(caps[0]);
      expect(digits.map((w) => WORDS.indexOf(w))).toEqual(cells.filter((d) => d >= 0));
      const n = cells.filter((d) => d >= 0).length;
      expect(caps[2].startsWith(`${WORDS[n]} ${n === 1 ? 'digit' : 'digits'} `)).toBe(true);
    }
    // And against the scenes themselves: a few of the draws' scenes as the generator made them.
    const scene = { cells: [7, -1, 0, 9], sampleIds: [0, -1, 0, 0] };
    expect(captionsOf(scene)).toEqual([
      'seven at the top left zero at the bottom left and nine at the bottom right',
      'a seven a zero and a nine',
      'three digits seven zero and nine',
    ]);
  });

  it('reads captions through the shipped tokenizer as the ids the decoder trains on, ending in </s>', () => {
    const tok = TextTokenizer.fromDir(captionTokenizerDir());
    for (const c of captionPool().captions.slice(0, 50).flat()) {
      const { tokens, mask } = captionIds(c);
      const n = mask.reduce((a, b) => a + b, 0);
      expect(tokens[n - 1]).toBe(tok.eosId);
      expect(tok.decode([...tokens.slice(0, n - 1)])).toBe(c);
      expect(tokens.length).toBe(CAPTION_LEN);
    }
    expect(() => captionIds('seven at the middle')).toThrow(/'middle' is not a caption word/);
  });

  it('draws k images (three captions each) and k disjoint dev images; the budget counts captions', () => {
    const { train: t, dev } = captionDraw(16, 13);
    expect(t.examples).toHaveLength(48);
    expect(dev.examples).toHaveLength(16);
    expect(dev.captions).toHaveLength(16);
    const trainImages = new Set(t.examples.map((e) => e.image));
    expect(trainImages.size).toBe(16);
    expect(dev.examples.some((e) => trainImages.has(e.image))).toBe(false);
    expect(draw(16, 13, 'hf', 'caption').train.examples.map((e) => e.image)).toEqual(t.examples.map((e) => e.image));
    expect(captionDraw(16, 21).train.examples[0].image).not.toBe(t.examples[0].image);
    expect(() => captionDraw(1001, 13)).toThrow(/needs 2002 pool images, the caption pool has 2000/);
    expect(testData('hf', 'caption')).toBe(captionTest());
    // 48 captions at batch 16: 3 steps an epoch, so the 600-step budget takes 200 epochs.
    expect(schedule(16, 1, 16, 48)).toMatchObject({ epochs: 200, steps: 600 });
    expect(schedule(16)).toMatchObject({ epochs: 300, steps: 300 }); // VQA: 16 examples, one step an epoch, at most 300 epochs
  });

  it('has the routed methods on the decoder and trains one end to end: greedy captions scored by CIDEr-D', async () => {
    expect(SETTINGS.caption.data).toBe('caption');
    const mine = METHODS.filter((m) => m.setting === 'caption');
    expect(mine.map((m) => m.name)).toEqual(
      expect.arrayContaining(['caption/full', 'caption/lora/inner', 'caption/adapter/add']),
    );
    // Their rates: near.test.ts checks ROUTED_TUNED against the tuning file.
    const m = method('caption/lora/add');
    const spec = m.model().spec;
    // Random towers (the committed checkpoints are made by near-routing.sh): the pipeline, not a score.
    const graph = lowerModel(spec, { batch: 8, mode: 'train' }).graph;
    const frozen = initialWeights(graph, 3);
    const { train: t, dev } = captionDraw(16, 13);
    const small = { examples: dev.examples.slice(0, 8), captions: dev.captions!.slice(0, 8) };
    const res = await train(
      gpu(),
      spec,
      { train: t, dev: small },
      { ...trainConfig({ epochs: 1, batch: 8, lr: 1e-3, seed: 3 }), backbone: frozen },
    );
    expect(res.best!.accuracy).toBeGreaterThanOrEqual(0);
    const ev = await Evaluator.create(gpu(), spec, 8);
    try {
      ev.setWeights(
        initialWeights(lowerModel(spec, { batch: 8, mode: 'infer' }).graph, 3, { ...frozen, ...res.bestWeights }),
      );
      const r = await ev.evaluate(small, 'test');
      expect(r.captions!.generated).toHaveLength(8);
      expect(Number.isFinite(r.accuracy)).toBe(true);
      // What the evaluation calls accuracy is CIDEr-D of the generated captions against the references.
      expect(r.accuracy).toBeCloseTo(r.captions!.CIDEr_D, 10);
    } finally {
      ev.destroy();
    }
  });
});
