/** An encoder-decoder with an LM head (VL-T5 style) answers `predict --image --question` by generating over the KV cache. */
import { mkdtempSync, writeFileSync } from 'node:fs';
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
});
