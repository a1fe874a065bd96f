/**
 * VQA files from the library as `train --data` reads them: loadVqaData gives the splits, the
 * head's answer classes (placeholders padding a head wider than the answers) and the identity
 * of what made the tensors; an adapter saved from it binds the answers, tokenizer and processor.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import spec from '../../examples/mnist-vqa.spec.ts';
import { loadVqaData } from '../../src/cli/vqa-data.ts';
import { isPlaceholderAnswer } from '../../src/data/answers.ts';
import { ADAPTER_FILE, loadAdapter, saveAdapter } from '../../src/train/adapter.ts';
import { train, trainConfig } from '../../src/train/trainer.ts';
import { SafetensorsFile } from '../../src/runtime/safetensors.ts';
import { useGpu } from '../helpers/gpu.ts';

describe('VQA files from the library', () => {
  const gpu = useGpu();

  it('loadVqaData -> train -> saveAdapter binds the answers, tokenizer and processor; loadAdapter reads them back', async () => {
    await expect(loadVqaData(spec as never, { data: 'examples/mnist-vqa', seed: 1 })).rejects.toThrow(
      /got a model builder \(vl\.model\(\.\.\.\)\); pass its spec: builder\.spec/,
    );
    const data = await loadVqaData(spec.spec, {
      data: join(import.meta.dirname, '..', '..', 'examples', 'mnist-vqa'),
      k: 16,
      seed: 13,
    });
    expect(data.vocab.size).toBe(27);
    expect(data.vocab.answers.filter(isPlaceholderAnswer)).toEqual(['<unused 0>', '<unused 1>']);
    expect(Object.keys(data.inputs).sort()).toEqual(['answers', 'processor', 'tokenizer']);
    const r = await train(gpu(), spec.spec, data, trainConfig({ epochs: 1, batch: 8, seed: 13, inputs: data.inputs }));
    const dir = mkdtempSync(join(tmpdir(), 'lib-vqa-'));
    saveAdapter(dir, r, { answers: data.vocab.answers });
    const f = SafetensorsFile.open(join(dir, ADAPTER_FILE));
    expect(JSON.parse(f.metadata.inputs)).toEqual(data.inputs);
    f.close();
    const back = loadAdapter(dir);
    expect(back.answers).toEqual(data.vocab.answers);
    expect(back.seed).toBe(13);
  });
});
