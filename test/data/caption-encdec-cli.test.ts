/**
 * Caption files for an encoder-decoder (VL-T5 style, MixPHM on T5's decoder): train reads the
 * captions as the decoder's targets and selects on dev CIDEr-D of captions generated over the KV
 * cache; eval scores a split the same; predict captions an image (no question) or answers one;
 * a compiled artifact captions it the same way.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, cli, copyVitProcessor, fixtureLiteral, writeCaptionFiles, indexLiteral } from '../helpers/cli.ts';

describe('caption files for an encoder-decoder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftgraph-t5-captions-'));
  writeFileSync(
    join(dir, 'spec.mts'),
    `import { hf, peft, vl } from ${indexLiteral};
export default vl
  .model({ vision: hf.vision(${fixtureLiteral('hf/vit')}), text: hf.text(${fixtureLiteral('hf/t5')}, { maxLen: 4, targetLen: 5 }), visualPrefix: 'pooled', head: vl.lm() })
  .inputs({ tokenizer: ${fixtureLiteral('tokenizers/unigram')}, processor: ${JSON.stringify(dir)} })
  .freeze('**')
  .insert(peft.mixphm({ at: 'decoder.layers.*.ffn', experts: 2, bottleneck: 4, kron: 2, rank: 2 }));
`,
  );
  copyVitProcessor(dir);
  // The unigram fixture knows "what is the digit top it": captions in those words, one cut at the target length.
  writeCaptionFiles(dir, [
    ['the digit', 'the top digit'],
    ['what is it', 'it is the top digit what is it'],
    ['the top', 'top'],
    ['it is', 'is it'],
  ]);

  it('trains on the captions as targets, selects on dev CIDEr-D, eval agrees, predict captions and answers', () => {
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
    // The long caption does not fit 4 tokens and end-of-sequence.
    expect(t.stdout).toContain(
      'train: 4 images, 8 captions (8 examples, one per caption), 1 captions cut to 4 tokens and end-of-sequence',
    );
    expect(t.stdout).toMatch(/best dev CIDEr-D \d+\.\d{4} at epoch \d/);
    const line = /test: CIDEr-D (\d+\.\d{4}), BLEU-4 (\d\.\d{4}), loss (\d+\.\d{4}) \(2 examples\)/.exec(t.stdout);
    expect(line, t.stdout).not.toBeNull();
    // A teacher-forced loss near log(vocab 40) after two epochs, not zero: the targets are read.
    expect(Number(line![3])).toBeGreaterThan(0.5);
    const e = cli('eval', '--adapter', join(dir, 'run'), '--data', dir, '--split', 'test', '--batch', '4');
    expect(e.status, e.stderr).toBe(0);
    expect(e.stdout).toContain(`test: CIDEr-D ${line![1]}, BLEU-4 ${line![2]}, loss ${line![3]}`);
    const image = join(dir, 'imgs', 'photo.jpg');
    const out =
      /^"(.*)" \((\d) tokens, stopped at (end of sequence|the target length); (greedy|beam 3, score -?\d+\.\d{4})\):((?: \d+)*)$/;
    const c = cli('predict', '--adapter', join(dir, 'run'), '--image', image);
    expect(c.status, c.stderr).toBe(0);
    const m = out.exec(c.stdout.trim());
    expect(m, c.stdout).not.toBeNull();
    expect(m![4]).toMatch(/^beam 3/);
    // At most the target length (every decoder position predicts one).
    const ids = m![5].trim() ? m![5].trim().split(' ').map(Number) : [];
    expect(ids).toHaveLength(Number(m![2]));
    expect(ids.length).toBeLessThanOrEqual(5);
    const q = cli('predict', '--adapter', join(dir, 'run'), '--image', image, '--question', 'what is it');
    expect(q.status, q.stderr).toBe(0);
    expect(out.exec(q.stdout.trim())?.[4], q.stdout).toBe('greedy');
    // Compiled with the adapter bundled, the runtime alone captions the image the same way.
    const a = cli(
      'compile',
      '--adapter',
      join(dir, 'run'),
      '--batch',
      '1',
      '--out',
      join(dir, 'model'),
      '--runtime-import',
      join(ROOT, 'src', 'runtime', 'index.ts'),
    );
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/captions: beam 3 over a KV cache/);
    writeFileSync(
      join(dir, 'caption.mts'),
      `import { acquireDevice, loadModel } from '${join(ROOT, 'src', 'runtime', 'index.ts')}';
const gpu = await acquireDevice();
const m = await loadModel(gpu, process.argv[2]);
const c = await m.caption(process.argv[3]);
console.log(JSON.stringify(c));
await m.caption(process.argv[3], { prompt: 'the' }).catch((e) => console.log(e.message.split(': ').at(-1)));
// The generated module's typed generate(): the encoder's text is the tokenizer's encoding of ''.
const model = await import(process.argv[2] + '/model.js');
const net = await model.load(gpu);
const px = await m.processor.load(process.argv[3]);
const enc = m.tokenizer.encode('', 4);
const text = Array.from(enc.ids.slice(0, enc.length));
console.log(JSON.stringify((await net.generate(px, { eos: m.tokenizer.eosId, pad: m.tokenizer.padId, text })).ids));
await net.generate(px, { eos: 1, pad: 0 }).catch((e) => console.log(e.message.split('generate: ')[1]));
await net.generate(px, { eos: 1, pad: 0, text, prompt: [5] }).catch((e) => console.log(e.message.split('generate: ')[1]));
net.destroy();
m.destroy();
gpu.destroy();
`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'caption.mts'), join(dir, 'model'), image], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const [json, noPrompt, generated, noText, promptToo] = r.stdout.trim().split('\n');
    const got = JSON.parse(json);
    expect(got.ids).toEqual(ids);
    expect(got.beam).toBe(3);
    expect(noPrompt).toBe("an encoder-decoder's decoder starts from its start id; it takes no prompt");
    expect(JSON.parse(generated)).toEqual(ids);
    expect(promptToo).toBe(
      "an encoder-decoder's decoder starts from its start id: its text goes in o.text, not a prompt",
    );
    expect(noText).toMatch(/an encoder-decoder needs o\.text: its encoder's ids \(at most 4; of '' for a caption\)/);
    const p = cli('predict', '--adapter', join(dir, 'run'), '--image', image, '--prompt', 'the');
    expect(p.status).toBe(1);
    expect(p.stderr).toMatch(/--prompt is for a decoder LM; an encoder-decoder's decoder starts from its start id/);
  });
});
