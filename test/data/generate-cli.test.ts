/** An encoder-decoder with an LM head (VL-T5 style) answers `predict --image --question` by generating over the KV cache. */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, cli, copyVitProcessor, fixtureLiteral, indexLiteral } from '../helpers/cli.ts';

describe('generated answers from the command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftgraph-t5-'));
  writeFileSync(
    join(dir, 'spec.mts'),
    `import { hf, peft, vl } from ${indexLiteral};
export default vl
  .model({ vision: hf.vision(${fixtureLiteral('hf/vit')}), text: hf.text(${fixtureLiteral('hf/t5')}, { maxLen: 6, targetLen: 4 }), visualPrefix: 'pooled', head: vl.lm() })
  .inputs({ tokenizer: ${fixtureLiteral('tokenizers/unigram')}, processor: ${JSON.stringify(dir)} })
  .freeze('**')
  .insert(peft.lora({ at: 'decoder.layers.*.attn.{q,v}', rank: 2 }));
`,
  );
  copyVitProcessor(dir);
  // Each question's answer is two fixed tokens then end-of-sequence (id 1); the decoder starts from pad (0).
  writeFileSync(
    join(dir, 'data.mts'),
    `const ex = (i: number) => ({ image: new Float32Array(3 * 16 * 16).fill((i % 2) - 0.5), tokens: Int32Array.from([4, 7, 1, 0, 0, 0]), mask: Float32Array.from([1, 1, 1, 0, 0, 0]), targetTokens: Int32Array.from([0, 10 + (i % 2), 12, 1]), targetLabels: Int32Array.from([10 + (i % 2), 12, 1, 0]), targetMask: Float32Array.from([1, 1, 1, 0]) });
export default () => ({ train: { examples: Array.from({ length: 8 }, (_, i) => ex(i)) } });
`,
  );

  it('trains, then predict generates an answer to the question; --question is required', () => {
    const t = cli(
      'train',
      join(dir, 'spec.mts'),
      '--data',
      join(dir, 'data.mts'),
      '--epochs',
      '2',
      '--batch',
      '4',
      '--out',
      join(dir, 'run'),
    );
    expect(t.status, t.stderr + t.stdout).toBe(0);
    const args = [
      'predict',
      '--adapter',
      join(dir, 'run'),
      '--image',
      join(ROOT, 'test', 'fixtures', 'images', 'rgb.png'),
    ];
    const p = cli(...args, '--question', 'what is');
    expect(p.status, p.stderr).toBe(0);
    const m = /^"(.*)" \((\d) tokens, stopped at (end of sequence|the target length); greedy\):((?: \d+)*)$/.exec(
      p.stdout.trim(),
    );
    expect(m, p.stdout).not.toBeNull();
    const ids = m![4].trim() ? m![4].trim().split(' ').map(Number) : [];
    expect(ids).toHaveLength(Number(m![2]));
    // At most the target length.
    expect(ids.length).toBeLessThanOrEqual(4);
    // Without a question it captions the image: the encoder reads the image alone, beam 3.
    const q = cli(...args);
    expect(q.status, q.stderr).toBe(0);
    expect(q.stdout).toMatch(/stopped at (end of sequence|the target length); beam 3, score/);
  });

  it('trains on VQA files, writing its answers: the target is the most given answer, the test scored from the decoded text as VQA scores it', () => {
    const v = join(dir, 'vqa');
    mkdirSync(join(v, 'imgs'), { recursive: true });
    const imgs = ['rgb.png', 'gray.png', 'palette.png'];
    for (const f of imgs) copyFileSync(join(ROOT, 'test', 'fixtures', 'images', f), join(v, 'imgs', f));
    const jsonl = (rs: object[]) => `${rs.map((r) => JSON.stringify(r)).join('\n')}\n`;
    // Every training question's answer is "top"; the fixture tokenizer spells it (and the others).
    const train = imgs.flatMap((f) =>
      [0, 1].map(() => ({ image: `imgs/${f}`, question: 'what is the digit', answers: Array(10).fill('top') })),
    );
    writeFileSync(join(v, 'train.jsonl'), jsonl(train));
    writeFileSync(join(v, 'dev.jsonl'), jsonl(train.slice(0, 2)));
    // A model that says "top": 3 of 10 annotators gave it (score 1), then 1 of 10 (score 1/3);
    // neither is the most given answer ("it"; "the digit", "digit" once normalized).
    writeFileSync(
      join(v, 'test.jsonl'),
      jsonl([
        { image: 'imgs/rgb.png', question: 'what is it', answers: [...Array(3).fill('top'), ...Array(7).fill('it')] },
        { image: 'imgs/gray.png', question: 'what is the top digit', answers: ['top', ...Array(9).fill('the digit')] },
      ]),
    );
    writeFileSync(
      join(dir, 'full.mts'),
      `import { hf, peft, vl } from ${indexLiteral};
export default vl
  .model({ vision: hf.vision(${fixtureLiteral('hf/vit')}), text: hf.text(${fixtureLiteral('hf/t5')}, { maxLen: 6, targetLen: 4 }), visualPrefix: 'pooled', head: vl.lm() })
  .inputs({ tokenizer: ${fixtureLiteral('tokenizers/unigram')}, processor: ${JSON.stringify(dir)} })
  .insert(peft.full());
`,
    );
    const out = join(dir, 'vqa-run');
    const t = cli(
      'train',
      join(dir, 'full.mts'),
      '--data',
      join(v, 'train.jsonl'),
      '--epochs',
      '60',
      '--batch',
      '4',
      '--lr',
      '1e-2',
      '--eval-every',
      '20',
      '--out',
      out,
    );
    expect(t.status, t.stderr + t.stdout).toBe(0);
    expect(t.stdout).toMatch(
      /answers: written by the decoder \(open vocabulary, at most 3 tokens\); each question's target is its most given answer/,
    );
    expect(t.stdout).toMatch(/best dev VQA accuracy 1\.0000/);
    const test = JSON.parse(readFileSync(join(out, 'test.json'), 'utf8'));
    expect(test.accuracy).toBeCloseTo(2 / 3, 12);
    expect(test.exactMatch).toBe(0);
    // No answer classes: the decoder writes the answer.
    expect(existsSync(join(out, 'answers.json'))).toBe(false);
    // eval scores the files the same way.
    const e = cli('eval', '--adapter', out, '--data', join(v, 'test.jsonl'));
    expect(e.status, e.stderr).toBe(0);
    expect(e.stdout).toContain('test.jsonl: VQA accuracy 0.6667, exact match 0.0000');
    const p = cli('predict', '--adapter', out, '--image', join(v, 'imgs', 'rgb.png'), '--question', 'what is it');
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^"top" /);
  });
});
