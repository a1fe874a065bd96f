import { describe, expect, it } from 'vitest';
import { peft, vl } from '../../src/dsl/index.ts';
import { parseSpec, SpecError } from '../../src/dsl/spec.ts';
import { globToRegex, matches, summarizePaths } from '../../src/dsl/paths.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { paramReport } from '../../src/compiler/params-report.ts';

const small = () =>
  vl.model({
    vision: vl.vit({ image: [8, 8], patch: 4, width: 8, depth: 1, heads: 2 }),
    text: vl.encoder({ vocab: 10, maxLen: 4, width: 8, depth: 2, heads: 2 }),
    visualPrefix: 'pooled',
    head: vl.classifier({ answers: 5 }),
  });

describe('spec validation', () => {
  it('round-trips through JSON', () => {
    const spec = small()
      .freeze('**')
      .insert(peft.mixphm({ at: 'text.layers.*.ffn', reduction: 2, kron: 2, rank: 2 }))
      .regularize({}).spec;
    expect(parseSpec(JSON.parse(JSON.stringify(spec)))).toEqual(spec);
  });

  it('names the field and the valid values', () => {
    const bad = {
      ...small().spec,
      insertions: [{ method: 'lora', at: 'text.layers.0.attn.q', rank: 2, routing: 'outer' }],
    };
    expect(() => parseSpec(bad)).toThrow(SpecError);
    expect(() => parseSpec(bad)).toThrow(/insertions\.0\.routing: .*valid: "none", "add", "mul", "mulExpand", "inner"/);
    expect(() => parseSpec({ ...small().spec, insertions: [{ method: 'prefix' }] })).toThrow(
      /insertions\.0\.method.*valid: "lora", "adapter", "compacter", "mixphm", "adamix", "bitfit", "full"/,
    );
    expect(() => parseSpec({ ...small().spec, text: { ...small().spec.text, depth: 0 } })).toThrow(/text\.depth/);
  });

  it('checks cross-field rules', () => {
    const { vision: _v, ...noVision } = small().spec;
    expect(() => parseSpec({ ...noVision, visualPrefix: 'pooled' })).toThrow(
      /visualPrefix: 'pooled' needs a vision and a text tower/,
    );
    expect(() => parseSpec({ ...small().spec, vision: { ...small().spec.vision!, width: 16 } })).toThrow(
      /vision\.width: must equal text\.width \(8\)/,
    );
    const noPrefix = {
      ...small().spec,
      visualPrefix: 'none',
      insertions: [peft.lora({ at: 'text.layers.0.attn.q', rank: 2, routing: 'inner' })],
    };
    expect(() => parseSpec(noPrefix)).toThrow(
      /insertions\.0\.routing: routing 'inner' needs visualPrefix 'pooled', 'tokens' or 'regions'/,
    );
  });
});

describe('insertion paths', () => {
  it('globs select segments, alternatives and subtrees', () => {
    expect(matches('text.layers.*.attn.{q,v}', 'text.layers.3.attn.v')).toBe(true);
    expect(matches('text.layers.*.attn.{q,v}', 'text.layers.3.attn.k')).toBe(false);
    expect(matches('text.layers.*.attn.{q,v}', 'text.layers.3.attn.q.x')).toBe(false);
    expect(matches('**', 'vision.layers.0.ffn.up.b')).toBe(true);
    expect(matches('text.**', 'text.layers.0.ffn')).toBe(true);
    expect(matches('text.**.b', 'text.layers.0.ffn.up.b')).toBe(true);
    expect(globToRegex('a.*').test('a.b.c')).toBe(false);
    expect(summarizePaths(['text.layers.0.attn.q', 'text.layers.1.attn.q', 'vision.patch'])).toEqual([
      'vision.patch',
      'text.layers.{0..1}.attn.q',
    ]);
  });

  it('an unmatched path is a compile error listing the valid points', () => {
    const m = small().insert(peft.lora({ at: 'text.layers.7.attn.q', rank: 2 }));
    expect(() => lowerModel(m.spec, { batch: 2, mode: 'train' })).toThrow(
      /insertions\.0 \(lora\): 'at' entry "text\.layers\.7\.attn\.q" matches no linear insertion point[\s\S]*text\.layers\.\{0\.\.1\}\.attn\.q/,
    );
  });

  it('dropout 1 is refused (it would scale by 1/0)', () => {
    expect(() => peft.mixphm({ at: 'text.layers.0.ffn', dropout: 1 })).toThrow(/mixphm\.dropout: must be below 1/);
  });

  it('builders report bad fields in the same form as spec files', () => {
    expect(() => vl.vit({ image: [8, 8], patch: 4, width: -32, depth: 1, heads: 2 })).toThrow(
      /^invalid model spec:\n {2}vision\.width: Too small/,
    );
    expect(() => peft.lora({ at: 'text.layers.0.attn.q', rank: 0 })).toThrow(
      /invalid model spec:\n {2}lora\.rank: Too small/,
    );
    expect(() => peft.adapter({ at: 'text.layers.0.ffn', bottleneck: 2, activation: 'swish' as never })).toThrow(
      /adapter\.activation: "swish" is not valid; valid: "gelu", "relu"/,
    );
  });

  it('every entry of an at list, and every freeze glob, must match something; a module twice at a point is refused', () => {
    const partly = small().insert(peft.lora({ at: ['text.layers.0.attn.q', 'text.layer.1.attn.v' as never], rank: 2 }));
    expect(() => lowerModel(partly.spec, { batch: 2, mode: 'train' })).toThrow(
      /'at' entry "text\.layer\.1\.attn\.v" matches no linear insertion point/,
    );
    const typo = small()
      .freeze('vison.**')
      .insert(peft.lora({ at: 'text.layers.0.attn.q', rank: 2 }));
    expect(() => lowerModel(typo.spec, { batch: 2, mode: 'train' })).toThrow(
      /freeze\.0: "vison\.\*\*" matches no param \(param roots: vision\.\*\*, text\.\*\*, head\.\*\*\)/,
    );
    const twice = small().insert(
      peft.lora({ at: 'text.layers.0.attn.q', rank: 2 }),
      peft.lora({ at: 'text.layers.*.attn.q', rank: 2 }),
    );
    expect(() => lowerModel(twice.spec, { batch: 2, mode: 'train' })).not.toThrow(); // different settings: allowed
    const same = small().insert(
      peft.lora({ at: 'text.layers.0.attn.q', rank: 2 }),
      peft.lora({ at: 'text.layers.0.attn.q', rank: 2 }),
    );
    expect(() => lowerModel(same.spec, { batch: 2, mode: 'train' })).toThrow(
      /insertions\.1 \(lora\) repeats insertions\.0 at 'text\.layers\.0\.attn\.q'/,
    );
    expect(() => lowerModel(small().freeze('**', 'head.**').spec, { batch: 2, mode: 'train' })).toThrow(
      /nothing to train: every param is frozen/,
    );
  });

  it('PHM divisibility is a compile error naming the layer', () => {
    const m = small().insert(peft.mixphm({ at: 'text.layers.0.ffn', bottleneck: 6, kron: 4 }));
    expect(() => lowerModel(m.spec, { batch: 2, mode: 'train' })).toThrow(
      /PHM layer 'text\.layers\.0\.ffn\.mixphm\.down': output width 6 is not divisible by kron n = 4; choose n among 1, 2/,
    );
  });
});

describe('parameter report', () => {
  it('reproduces the MixPHM figures of METHODS.md at t5-base sizes', () => {
    const t5 = vl
      .model({
        text: vl.encdec({
          vocab: 32128,
          maxLen: 8,
          targetLen: 4,
          width: 768,
          ffn: 3072,
          encoderDepth: 12,
          decoderDepth: 12,
          heads: 12,
        }),
        head: vl.lm(),
      })
      .freeze('**')
      .insert(
        peft.mixphm({
          at: ['encoder.layers.*.ffn', 'decoder.layers.*.ffn'],
          experts: 4,
          reduction: 12,
          kron: 4,
          rank: 8,
        }),
      );
    const train = paramReport(lowerModel(t5.spec, { batch: 1, mode: 'train' }).graph);
    expect(train.byLayer['encoder.layers.0']).toBe(36416); // 6,720 down + 4 x 7,424 up
    expect(train.byLayer['decoder.layers.11']).toBe(36416);
    expect(train.byLayer.global).toBe(64); // the one shared S (4 x 4 x 4)
    expect(train.trainable).toBe(24 * 36416 + 64); // 874,048: "about 874K"
    expect(train.percent).toBeGreaterThan(0.38);
    expect(train.percent).toBeLessThan(0.41); // "about 0.4% of the backbone"
    const merged = paramReport(lowerModel(t5.spec, { batch: 1, mode: 'infer', merged: true }).graph);
    expect(merged.trainable).toBe(24 * (6720 + 7424) + 64); // 339,520: "about 340K"
  });

  it('counts per method, and freezes by glob', () => {
    const m = small()
      .freeze('**')
      .insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2 }), peft.bitfit({ at: 'vision.**' }));
    const r = paramReport(lowerModel(m.spec, { batch: 2, mode: 'train' }).graph);
    expect(r.byMethod.lora).toBe(2 * 2 * (8 * 2 + 2 * 8));
    // BitFit: every bias (and LN shift) under vision; the task head stays trainable unless frozen by name.
    const g = lowerModel(m.spec, { batch: 2, mode: 'train' }).graph;
    const trainable = [...g.params()]
      .filter(([, n]) => (n.attrs.info as { trainable: boolean }).trainable)
      .map(([k]) => k);
    expect(trainable.filter((k) => k.startsWith('vision.')).every((k) => k.endsWith('.b'))).toBe(true);
    expect(trainable.some((k) => k.startsWith('vision.layers.0.ffn.up.b'))).toBe(true);
    expect(trainable.filter((k) => k.startsWith('text.') && !k.includes('.lora.'))).toEqual([]);
    expect(trainable).toContain('head.fc2.W');
    const full = paramReport(lowerModel(small().insert(peft.full()).spec, { batch: 2, mode: 'train' }).graph);
    expect(full.trainable).toBe(full.total);
  });
});

describe('strict options', () => {
  const text = { kind: 'encoder', vocab: 5, maxLen: 4, width: 8, depth: 1, heads: 2 } as const;
  it('an unknown option is an error with a did-you-mean and the valid names, never dropped', () => {
    expect(() => peft.lora({ at: 'text.layers.*.attn.q', rank: 8, alhpa: 16 } as never)).toThrow(
      /lora: unknown option 'alhpa' \(did you mean 'alpha'\?\); valid: method, at, rank, alpha, dropout, routing/,
    );
    expect(() => parseSpec({ text: { ...text, widht: 3 }, head: { kind: 'features' } })).toThrow(
      /text: unknown option 'widht' \(did you mean 'width'\?\); valid: kind, vocab, maxLen, width, .*pool$/m,
    );
    expect(
      () => vl.model({ text: vl.encoder(text), head: vl.classifier({ answers: 3, hidden: 64 } as never) }).spec,
    ).toThrow(/head: unknown option 'hidden'; valid: kind, answers, loss/);
  });

  it("HF PEFT's LoraConfig names are named with the option to use", () => {
    expect(() => peft.lora({ at: 'text.layers.*.attn.q', r: 8, lora_alpha: 16, lora_dropout: 0.1 } as never)).toThrow(
      /unknown option 'r': use rank \(HF PEFT's r\)[\s\S]*unknown option 'lora_alpha': use alpha[\s\S]*unknown option 'lora_dropout': use dropout/,
    );
    expect(() =>
      parseSpec({
        text,
        head: { kind: 'features' },
        insertions: [{ method: 'lora', at: 'text.layers.0.attn.q', rank: 2, target_modules: ['q_proj'] }],
      }),
    ).toThrow(/insertions\.0: unknown option 'target_modules': use at: insertion points such as/);
    // HF's module names answered with the points they reach, read off the import tables.
    expect(() =>
      peft.lora({ at: 'text.layers.*.attn.q', rank: 2, target_modules: ['query', 'value', 'nonesuch'] } as never),
    ).toThrow(
      /\["query","value","nonesuch"\] are, in the HF families peftgraph imports: at: 'text\.layers\.\*\.attn\.\{q,v\}', 'vision\.layers\.\*\.attn\.\{q,v\}' \(keep the towers you mean\); 'nonesuch' names no linear layer of those families/,
    );
    // A misspelled method is echoed with a did-you-mean; a required option left out is said to be.
    expect(() =>
      parseSpec({
        text,
        head: { kind: 'features' },
        insertions: [{ method: 'lorra', at: 'text.layers.0.attn.q', rank: 2 }],
      }),
    ).toThrow(/insertions\.0\.method: unknown method "lorra" \(did you mean "lora"\?\) \(valid: "lora", /);
    expect(() => peft.lora({ rank: 2 } as never)).toThrow(/lora\.at: required, missing/);
    expect(() =>
      peft.lora({ at: 'text.layers.*.attn.q', rank: 2, target_modules: ['c_fc', 'c_proj'] } as never),
    ).toThrow(/at: 'text\.layers\.\*\.attn\.o', 'text\.layers\.\*\.ffn\.\{down,up\}'/);
  });

  it('a builder passed where its spec is expected is recognised', () => {
    expect(() => parseSpec(vl.model({ text: vl.encoder(text), head: vl.features() }))).toThrow(
      /got a model builder \(vl\.model\(\.\.\.\)\); pass its spec: builder\.spec/,
    );
  });

  it('a module object where its default export is meant is named', () => {
    expect(() => parseSpec({ default: small() })).toThrow(
      /got a module object \(it has a 'default' export\); pass the spec module's default export/,
    );
  });

  it('an enum value gets a did-you-mean and the valid values once', () => {
    const bad = {
      ...small().spec,
      insertions: [{ method: 'lora', at: 'text.layers.0.attn.q', rank: 2, routing: 'innr' }],
    };
    expect(() => parseSpec(bad)).toThrow(
      'insertions.0.routing: "innr" is not valid (did you mean "inner"?); valid: "none", "add", "mul", "mulExpand", "inner"',
    );
  });

  it('a misspelled top-level field is the only complaint (no cross-field check on what is left)', () => {
    const { vision, ...rest } = small().spec;
    expect(() => parseSpec({ ...rest, vison: vision })).toThrow(
      /^invalid model spec:\n {2}<spec>: unknown option 'vison' \(did you mean 'vision'\?\)[^\n]*$/,
    );
  });

  it('untyped calls with no batch or mode are named, not a NaN shape', () => {
    expect(() => lowerModel(small().spec, {} as never)).toThrow(
      'lowerModel: batch is undefined; it takes a whole number >= 1',
    );
    expect(() => lowerModel(small().spec, { batch: 2 } as never)).toThrow(
      `lowerModel: mode is undefined; valid: 'train', 'infer'`,
    );
  });
});
