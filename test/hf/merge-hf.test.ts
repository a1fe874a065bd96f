/**
 * `merge --hf`: a LoRA adapter folded into its base and written in HF layout, checked against HF
 * peft's convention as computed by PyTorch (scripts/fixtures/lora_fixture.py: the BERT fixture with
 * LoRA on query and value, lora_A [r, in], lora_B [out, r], scaling lora_alpha / r, merged as
 * W + scaling B A). The exported weights equal torch's merged ones, the exported directory
 * re-imports, and the re-imported model gives torch's outputs; modules that stay modules are refused.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hf } from '../../src/hf/towers.ts';
import { parseSpec, type ModelSpec } from '../../src/dsl/spec.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { evaluate } from '../../src/compiler/reference.ts';
import { pretrainedWeights } from '../../src/hf/import.ts';
import { initialWeights } from '../../src/runtime/init.ts';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { exportMergedHf, HEAD_FILE } from '../../src/train/export.ts';
import { fixtureDir, fixtureFeeds, readExpected, relError } from '../helpers/hf-fixture.ts';

const LORA_DIR = fixtureDir('bert_lora');
const expected = readExpected('bert_lora');
const maxLen = expected.inputs.input_ids.shape[1];

function model(dir: string, insertions: unknown[]): ModelSpec {
  return parseSpec({ text: hf.text(dir, { maxLen }), head: { kind: 'features' }, freeze: ['**'], insertions });
}

const LORA = { method: 'lora', at: 'text.layers.*.attn.{q,v}', rank: 2, alpha: 4 };

/** The base's weights with HF peft's adapter tensors under our names (A^T and B^T: ours are [in, r] and [r, out]). */
function withPeftAdapter(spec: ModelSpec): Record<string, Float32Array> {
  const graph = lowerModel(spec, { batch: 1, mode: 'infer' }).graph;
  const w: Record<string, Float32Array> = { ...initialWeights(graph, 1), ...pretrainedWeights(spec, graph).weights };
  const peft = readSafetensors(join(LORA_DIR, 'adapter_model.safetensors')).tensors;
  let n = 0;
  for (const [key, t] of peft) {
    const m = /^base_model\.model\.encoder\.layer\.(\d+)\.attention\.self\.(query|value)\.lora_(A|B)\.weight$/.exec(
      key,
    );
    if (!m) throw new Error(`unexpected adapter key ${key}`);
    const ours = `text.layers.${m[1]}.attn.${m[2] === 'query' ? 'q' : 'v'}.lora.${m[3]}`;
    const [rows, cols] = t.shape;
    const x = t.data as Float32Array;
    const tr = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) tr[j * rows + i] = x[i * cols + j];
    expect(graph.params().get(ours)?.shape, ours).toEqual([cols, rows]);
    w[ours] = tr;
    n++;
  }
  expect(n).toBe(8); // 2 layers x (query, value) x (A, B)
  return w;
}

const outputs = { 'text.hidden': expected.outputs.last_hidden_state, 'text.pooled': expected.outputs.pooler_output };

describe('merge --hf: LoRA folded and written as HF saves the base model', () => {
  const spec = model(fixtureDir('bert'), [LORA]);
  const weights = withPeftAdapter(spec);

  it("the adapter, unmerged, already computes torch's merged model: LoRA's layout and scaling are HF peft's", () => {
    const { graph } = lowerModel(spec, { batch: 2, mode: 'infer', features: true });
    const got = evaluate(graph, fixtureFeeds(graph, weights, expected), Object.keys(outputs));
    // torch ran the merged weights rounded to f32; here W x + s B A x runs in float64.
    for (const [k, w] of Object.entries(outputs)) expect(relError(got[k].data, w.data), k).toBeLessThan(1e-5);
  });

  it("writes torch's merged weights under HF's keys, re-imports, and gives torch's outputs", () => {
    const dir = mkdtempSync(join(tmpdir(), 'merge-hf-'));
    const r = exportMergedHf(dir, spec, weights);
    expect(r.towers).toEqual({ text: 'bert' });
    expect(readdirSync(join(dir, 'text')).sort()).toEqual(['config.json', 'model.safetensors']);
    const got = readSafetensors(join(dir, 'text', 'model.safetensors')).tensors;
    const want = readSafetensors(join(LORA_DIR, 'merged.safetensors')).tensors;
    expect([...got.keys()].sort()).toEqual([...want.keys()].filter((k) => k !== 'embeddings.position_ids').sort());
    for (const [k, t] of want) {
      if (!got.has(k)) continue;
      expect(got.get(k)!.shape, k).toEqual(t.shape);
      // Folded in float64 both sides, in another order: at most an f32 ulp apart; the rest bit for bit.
      if (/\.(query|value)\.weight$/.test(k)) expect(relError(got.get(k)!.data, t.data), k).toBeLessThan(1e-6);
      else expect(got.get(k)!.data, k).toEqual(t.data);
    }
    // The directory is a pretrained tower: the same architecture, no LoRA, torch's outputs.
    const again = model(join(dir, 'text'), []);
    expect({ ...again.text, pretrained: undefined }).toEqual({ ...spec.text, pretrained: undefined });
    const { graph } = lowerModel(again, { batch: 2, mode: 'infer', features: true });
    const imported = pretrainedWeights(again, graph);
    expect(imported.plans[0].missing).toEqual([]);
    const out = evaluate(
      graph,
      fixtureFeeds(graph, { ...initialWeights(graph, 1), ...imported.weights }, expected),
      Object.keys(outputs),
    );
    for (const [k, w] of Object.entries(outputs)) expect(relError(out[k].data, w.data), k).toBeLessThan(1e-6);
    // The head (a features head: none) and the README saying what is where.
    expect(readSafetensors(join(dir, HEAD_FILE)).metadata.format).toBe('peftgraph-head-1');
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain(
      "`text/`: the text tower as HF's bert base model saves it",
    );
  });

  it('refuses a module that stays one after merging, naming it, and writes nothing', () => {
    for (const [insertion, method] of [
      [{ method: 'adapter', at: 'text.layers.*.ffn', bottleneck: 4 }, 'adapter'],
      [{ ...LORA, routing: 'inner' }, 'lora'],
    ] as const) {
      const s = parseSpec({
        vision: hf.vision(fixtureDir('vit')),
        text: hf.text(fixtureDir('bert'), { maxLen }),
        visualPrefix: 'pooled',
        head: { kind: 'features' },
        freeze: ['**'],
        insertions: [insertion],
      });
      const g = lowerModel(s, { batch: 1, mode: 'infer' }).graph;
      const dir = join(mkdtempSync(join(tmpdir(), 'merge-hf-no-')), 'out');
      expect(() => exportMergedHf(dir, s, { ...initialWeights(g, 1), ...pretrainedWeights(s, g).weights })).toThrow(
        new RegExp(
          `^merge --hf: ${method} stays a module of its own after merging \\(text\\.layers\\.0\\.[^)]*\\): HF's layout has no place for it`,
        ),
      );
      expect(existsSync(dir), method).toBe(false);
    }
  });
});
