/**
 * Caption files from the command line: a decoder LM with a visual prefix (ViT + GPT-2 layout)
 * trains on JSONL captions (one example per caption), selects on dev CIDEr-D computed on
 * generated captions, and eval scores a split with BLEU, ROUGE-L and CIDEr-D.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, copyVitProcessor, fixtureLiteral, writeCaptionFiles, indexLiteral } from '../helpers/cli.ts';

describe('caption files from the command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftgraph-captions-'));
  writeFileSync(
    join(dir, 'spec.mts'),
    `import { hf, peft, vl } from ${indexLiteral};
export default vl
  .model({ vision: hf.vision(${fixtureLiteral('hf/vit')}), text: hf.text(${fixtureLiteral('hf/gpt2')}, { maxLen: 8 }), visualPrefix: 'pooled', head: vl.lm() })
  .inputs({ tokenizer: ${fixtureLiteral('tokenizers/bpe')}, processor: ${JSON.stringify(dir)} })
  .freeze('**')
  .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2, routing: 'inner' }));
`,
  );
  copyVitProcessor(dir);
  // The fixture tokenizer knows the letters of "what is it colo r s ' c": captions in those letters.
  writeCaptionFiles(dir, [
    ['a cat', 'this cat'],
    ['a rat', 'that rat'],
    ['a coat', 'a tall coat'],
    ['a chair', 'this chair'],
  ]);

  it('trains on every caption, selects on dev CIDEr-D of generated captions, and eval scores the test split the same', () => {
    const t = cli(
      'train',
      join(dir, 'spec.mts'),
      '--data',
      join(dir, 'train.jsonl'),
      '--epochs',
      '2',
      '--batch',
      '4',
      '--lr',
      '3e-2',
      '--out',
      join(dir, 'run'),
    );
    expect(t.status, t.stderr + t.stdout).toBe(0);
    expect(t.stdout).toContain('train: 4 images, 8 captions (8 examples, one per caption)');
    expect(t.stdout).toContain('dev: 2 images, 4 captions (scored against all 4 captions)');
    expect(t.stdout).toMatch(/best dev CIDEr-D \d+\.\d{4} at epoch \d/);
    const line = /test: CIDEr-D (\d+\.\d{4}), BLEU-4 (\d\.\d{4}), loss \d+\.\d{4} \(2 examples\)/.exec(t.stdout);
    expect(line, t.stdout).not.toBeNull();
    expect(t.stdout).toMatch(
      /test: BLEU-1 \d\.\d{4}, BLEU-2 \d\.\d{4}, BLEU-3 \d\.\d{4}, BLEU-4 \d\.\d{4}, ROUGE-L \d\.\d{4}, CIDEr-D \d+\.\d{4}/,
    );
    expect(t.stdout).toMatch(/ {2}photo\.jpg: ".*"; reference: "a coat"/);
    const test = JSON.parse(readFileSync(join(dir, 'run', 'test.json'), 'utf8'));
    expect(test.captions.generated).toHaveLength(2);
    expect(test.accuracy.toFixed(4)).toBe(line![1]);
    const e = cli('eval', '--adapter', join(dir, 'run'), '--data', dir, '--split', 'test', '--batch', '4');
    expect(e.status, e.stderr).toBe(0);
    expect(e.stdout).toContain(`test: CIDEr-D ${line![1]}, BLEU-4 ${line![2]}`);
    expect(e.stdout).toMatch(/test: BLEU-1 .*ROUGE-L .*CIDEr-D /);
  });

  it('draws k images and k dev images with --k (k-shot in images), and refuses a caption record without captions by file and line', () => {
    const run = (...more: string[]) =>
      cli(
        'train',
        join(dir, 'spec.mts'),
        '--data',
        join(dir, 'train.jsonl'),
        '--epochs',
        '1',
        '--batch',
        '2',
        '--out',
        join(dir, 'run-k'),
        '--overwrite',
        ...more,
      );
    const k = run('--k', '2', '--seed', '5');
    expect(k.status, k.stderr).toBe(0);
    expect(k.stdout).toMatch(
      /k-shot: 2 training images and 2 dev images drawn from the 4 images of .*train\.jsonl \(seed 5\)/,
    );
    expect(k.stdout).toMatch(/train: 2 images, \d+ captions/);
    expect(k.stdout).toMatch(/dev: 2 images, \d+ captions/);
    expect(run('--k', '3').stderr).toMatch(/k = 3 needs 6 records \(k to train, k for dev\), the pool has 4/);
    expect(run('--k', '2', '--dev', join(dir, 'dev.jsonl')).stderr).toMatch(
      /--k draws the dev set from the training images/,
    );
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'train.jsonl'), `${JSON.stringify({ image: '../imgs/rgb.png', captions: [] })}\n`);
    const b = cli('train', join(dir, 'spec.mts'), '--data', bad, '--out', join(dir, 'run-bad'), '--allow-outside-data');
    expect(b.status).toBe(1);
    expect(b.stderr).toMatch(/bad\/train\.jsonl:1: no captions/);
  });
});
