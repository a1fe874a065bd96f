/**
 * Each PEFT method's forward, on the reference interpreter, against the formula of
 * METHODS.md written directly here; its gradients against finite differences; sharing,
 * routing, random expert choice and merging.
 */
import { describe, expect, it } from 'vitest';
import { parseSpec, type PeftSpec } from '../../../src/dsl/spec.ts';
import { peft, vl } from '../../../src/dsl/index.ts';
import { Lowering, type Mode } from '../../../src/compiler/lower/context.ts';
import { loraDelta } from '../../../src/compiler/lower/peft/lora.ts';
import { adapter } from '../../../src/compiler/lower/peft/adapter.ts';
import { compacter } from '../../../src/compiler/lower/peft/compacter.ts';
import { mixphm } from '../../../src/compiler/lower/peft/mixphm.ts';
import { adamix } from '../../../src/compiler/lower/peft/adamix.ts';
import type { Tensor } from '../../../src/compiler/builder.ts';
import { Value } from '../../../src/compiler/ir/value.ts';
import { evaluate, evaluateNodes } from '../../../src/compiler/reference.ts';
import { lowerModel } from '../../../src/compiler/lower/index.ts';
import { mergeWeights } from '../../../src/compiler/lower/merge.ts';
import { redundancyTerm, relevanceTerm } from '../../../src/compiler/lower/regularizers.ts';
import { draw, rng } from '../../helpers/random.ts';
import { initialWeights } from '../../../src/runtime/init.ts';
import { gradCheck } from '../../helpers/gradcheck.ts';
import { add, flat, gelu, map, mat, mean, mm, phmDense, scale, type Mat } from '../../helpers/linalg.ts';

const [B, L, d] = [2, 3, 8];

function moduleGraph(
  method: PeftSpec,
  apply: (ctx: Lowering, spec: PeftSpec, x: Tensor) => Tensor,
  mode: Mode = 'train',
  merged = false,
) {
  const spec = parseSpec({
    vision: { kind: 'vit', image: [4, 4], patch: 2, width: d, depth: 1, heads: 2 },
    text: { kind: 'encoder', vocab: 5, maxLen: L, width: d, depth: 1, heads: 2 },
    visualPrefix: 'pooled',
    head: { kind: 'classifier', answers: 2 },
    insertions: [method],
    freeze: ['**'],
  });
  const ctx = new Lowering(spec, { batch: B, mode, merged });
  const x = ctx.b.input('x', [B, L, d]);
  ctx.visual = ctx.b.input('xr', [B, d]);
  const y = apply(ctx, spec.insertions[0], x);
  ctx.b.output('y', y);
  const r = rng(11);
  const w = draw(r, y.shape);
  ctx.b.output('loss', y.mul(ctx.b.constant([...w.data], y.shape)).sum());
  const params: Record<string, Value> = {};
  for (const [name, n] of ctx.b.g.params()) params[name] = draw(r, n.shape);
  const inputs: Record<string, Value> = { x: draw(r, [B, L, d]), xr: draw(r, [B, d]), seed: Value.scalar(1234, 'u32') };
  const feeds = { params, inputs: Object.fromEntries(Object.entries(inputs).filter(([k]) => ctx.b.g.inputs().has(k))) };
  const out = evaluate(ctx.b.g, feeds);
  /** Values of the integer random draws (expert choices), in graph order. */
  const draws = () => {
    const ids = ctx.b.g.nodes.filter((n) => n.op === 'random' && n.attrs.dist === 'int').map((n) => n.id);
    const vals = evaluateNodes(ctx.b.g, feeds, ids);
    return ids.map((id) => vals.get(id)!.data[0]);
  };
  return {
    ctx,
    graph: ctx.b.g,
    feeds,
    y: out.y,
    P: (k: string) => params[k].data,
    X: (b: number) => mat(L, d, inputs.x.data, b * L * d),
    XR: (b: number) => mat(1, d, inputs.xr.data, b * d),
    draws,
  };
}

function expectRows(got: Value, want: (b: number) => Mat) {
  for (let b = 0; b < B; b++) {
    const w = flat(want(b));
    w.forEach((v, i) => expect(got.data[b * L * d + i]).toBeCloseTo(v, 10));
  }
}

const routeDirect: Record<string, (xt: Mat, xv: Mat) => Mat> = {
  none: (xt) => xt,
  add: (xt, xv) => xt.map((r) => r.map((v, j) => v + xv[0][j])),
  mul: (xt, xv) => xt.map((r) => r.map((v, j) => v * xv[0][j])),
  mulExpand: (xt, xv) => xt.map((r) => xv[0].map((u) => r.reduce((s, v) => s + v, 0) * u)),
  inner: (xt, xv) => xt.map((r) => xv[0].map((u) => r.reduce((s, v, j) => s + v * xv[0][j], 0) * u)),
};

describe('LoRA (with each routing function)', () => {
  for (const routing of ['none', 'add', 'mul', 'mulExpand', 'inner'] as const) {
    it(`routing '${routing}': value, gradients, no new params`, () => {
      const spec = peft.lora({ at: 'text.layers.0.attn.q', rank: 2, alpha: 4, routing });
      const m = moduleGraph(spec, (ctx, s, x) => loraDelta(ctx, s as typeof spec, 'text.layers.0.attn.q', x, d, d));
      const A = mat(d, 2, m.P('text.layers.0.attn.q.lora.A'));
      const Bm = mat(2, d, m.P('text.layers.0.attn.q.lora.B'));
      expectRows(m.y, (b) => scale(mm(routeDirect[routing](mm(m.X(b), A), mm(m.XR(b), A)), Bm), 4 / 2));
      expect([...m.graph.params().keys()].sort()).toEqual([
        'text.layers.0.attn.q.lora.A',
        'text.layers.0.attn.q.lora.B',
      ]);
      gradCheck(m.graph, m.feeds);
    });
  }
});

describe('adapters', () => {
  for (const routing of ['none', 'inner'] as const) {
    it(`bottleneck adapter, routing '${routing}'`, () => {
      const spec = peft.adapter({ at: 'text.layers.0.ffn', bottleneck: 4, routing });
      const m = moduleGraph(spec, (ctx, s, x) => adapter(ctx, s as typeof spec, 'text.layers.0.ffn', x));
      const p = (k: string) => m.P(`text.layers.0.ffn.adapter.${k}`);
      const [Wd, Wu] = [mat(d, 4, p('down.W')), mat(4, d, p('up.W'))];
      const bd = [...p('down.b')];
      expectRows(m.y, (b) => {
        const z = routeDirect[routing](add(mm(m.X(b), Wd), bd), add(mm(m.XR(b), Wd), bd));
        return add(add(m.X(b), mm(map(z, gelu), Wu)), [...p('up.b')]);
      });
      gradCheck(m.graph, m.feeds);
    });
  }

  it('Compacter: PHM projections with the shared S', () => {
    const spec = peft.compacter({ at: 'text.layers.0.ffn', bottleneck: 4, kron: 2, rank: 2 });
    const m = moduleGraph(spec, (ctx, s, x) => compacter(ctx, s as typeof spec, 'text.layers.0.ffn', x));
    const p = (k: string) => m.P(`text.layers.0.ffn.compacter.${k}`);
    const S = m.P('compacter.S');
    const Wd = phmDense(S, p('down.T'), p('down.U'), 2, d / 2, 2, 2);
    const Wu = phmDense(S, p('up.T'), p('up.U'), 2, 2, 2, d / 2);
    expectRows(m.y, (b) => add(add(m.X(b), mm(map(add(mm(m.X(b), Wd), [...p('down.b')]), gelu), Wu)), [...p('up.b')]));
    gradCheck(m.graph, m.feeds);
  });
});

describe('MixPHM', () => {
  const spec = peft.mixphm({
    at: 'text.layers.0.ffn',
    experts: 3,
    bottleneck: 4,
    kron: 2,
    rank: 2,
    dropout: 0,
    alpha: 0.7,
  });
  const apply = (ctx: Lowering, s: PeftSpec, x: Tensor) =>
    mixphm(ctx, s as typeof spec, 'text.layers.0.ffn', x, 'text');
  const formula = (m: ReturnType<typeof moduleGraph>, pick: (name: string) => number[]) => (b: number) => {
    const p = (k: string) => m.P(`text.layers.0.ffn.mixphm.${k}`);
    const S = m.P('mixphm.S');
    const Wd = phmDense(S, p('down.T'), p('down.U'), 2, d / 2, 2, 2);
    const Wu = phmDense(S, pick('up.T'), pick('up.U'), 2, 2, 2, d / 2);
    const z = map(add(mm(m.X(b), Wd), [...p('down.b')]), gelu);
    return add(m.X(b), scale(add(mm(z, Wu), pick('up.b')), 0.7));
  };

  it('training: the drawn expert, shared down projection, internal residual', () => {
    const m = moduleGraph(spec, apply);
    const [e] = m.draws();
    const slice = (k: string) => {
      const all = m.P(`text.layers.0.ffn.mixphm.${k}`);
      const n = all.length / 3;
      return [...all.slice(e * n, e * n + n)];
    };
    expectRows(m.y, formula(m, slice));
    gradCheck(m.graph, m.feeds);
  });

  it('inference: experts merged factor by factor (mean T, mean U, mean b)', () => {
    const m = moduleGraph(spec, apply, 'infer');
    expectRows(
      m.y,
      formula(m, (k) => mean(m.P(`text.layers.0.ffn.mixphm.${k}`), 3)),
    );
  });

  it('random routing is deterministic for a seed and uniform over experts', () => {
    const m = moduleGraph(spec, apply);
    const node = m.graph.nodes.find((n) => n.op === 'random' && n.attrs.dist === 'int')!;
    const draw = (seed: number) =>
      evaluateNodes(m.graph, { inputs: { seed: Value.scalar(seed, 'u32') } }, [node.id]).get(node.id)!.data[0];
    expect(draw(5)).toBe(draw(5));
    const counts = [0, 0, 0];
    const N = 3000;
    for (let s = 0; s < N; s++) counts[draw(s)]++;
    // Chi-square with 2 degrees of freedom; 13.8 is the 0.1% critical value.
    const chi2 = counts.reduce((acc, c) => acc + (c - N / 3) ** 2 / (N / 3), 0);
    expect(chi2).toBeLessThan(13.8);
  });

  it('shares S across modules and sums its gradient', () => {
    const m = moduleGraph(spec, (ctx, s, x) => apply(ctx, s, apply(ctx, s, x)));
    const twice = moduleGraph(spec, (ctx, s, x) =>
      mixphm(
        ctx,
        s as typeof spec,
        'text.layers.1.ffn',
        mixphm(ctx, s as typeof spec, 'text.layers.0.ffn', x, 'text'),
        'text',
      ),
    );
    const names = [...twice.graph.params().keys()];
    expect(names.filter((k) => k.endsWith('.S'))).toEqual(['mixphm.S']);
    expect(names).toContain('text.layers.1.ffn.mixphm.down.T'); // T, U, b per layer
    gradCheck(twice.graph, twice.feeds, 'loss', { maxCoords: 24 });
    expect(m.y.shape).toEqual([B, L, d]);
  });

  it('redundancy and relevance terms match their definitions', () => {
    const m = moduleGraph(spec, apply);
    const rec = m.ctx.modules[0];
    const mask = m.ctx.b.input('m', [B, L]);
    const fin = m.ctx.b.input('fin', [B, L, d]);
    m.ctx.b.output('red', redundancyTerm(m.ctx.b, rec, mask, 3.9e-3));
    m.ctx.b.output('rel', relevanceTerm(m.ctx.b, rec, mask, fin));
    m.ctx.b.output('ha', rec.ha);
    const r = rng(3);
    const maskV = Value.of([B, L], [1, 1, 0, 1, 0, 1]);
    const finV = draw(r, [B, L, d]);
    const feeds = { params: m.feeds.params, inputs: { ...m.feeds.inputs, m: maskV, fin: finV } };
    const out = evaluate(m.graph, feeds, ['red', 'rel', 'ha']);
    // Direct: valid tokens, unit vectors, C = A^T H, off-diagonal energy.
    const tokens: number[] = [];
    for (let t = 0; t < B * L; t++) if (maskV.data[t]) tokens.push(t);
    const unit = (v: number[]) => {
      const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      return v.map((x) => x / n);
    };
    const row = (arr: ArrayLike<number>, t: number) => Array.from({ length: d }, (_, j) => arr[t * d + j]);
    const A = tokens.map((t) => unit(row(out.ha.data, t)));
    const H = tokens.map((t) => unit(row(m.feeds.inputs.x.data, t)));
    let off = 0;
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) if (i !== j) off += A.reduce((s, a, t) => s + a[i] * H[t][j], 0) ** 2;
    expect(out.red.data[0]).toBeCloseTo((3.9e-3 * off) / B, 10);
    // Relevance: JSD estimator, scores <h_a token, pooled final of each sample>.
    const pooled = Array.from({ length: B }, (_, b) => {
      const ts = [0, 1, 2].filter((l) => maskV.data[b * L + l]);
      return Array.from(
        { length: d },
        (_, j) => ts.reduce((s, l) => s + finV.data[(b * L + l) * d + j], 0) / ts.length,
      );
    });
    const sp = (x: number) => Math.log1p(Math.exp(x));
    let pos = 0,
      neg = 0;
    for (const t of tokens)
      for (let b2 = 0; b2 < B; b2++) {
        const s = row(out.ha.data, t).reduce((acc, v, j) => acc + v * pooled[b2][j], 0);
        if (Math.floor(t / L) === b2) pos += -sp(-s);
        else neg += sp(-s) + s;
      }
    expect(out.rel.data[0]).toBeCloseTo(neg / (tokens.length * (B - 1)) - pos / tokens.length, 10);
  });
});

describe('AdaMix', () => {
  const spec = peft.adamix({ at: 'text.layers.0.ffn', experts: 2, bottleneck: 4 });
  it('independent random down and up experts; mean at inference; gradients', () => {
    const m = moduleGraph(spec, (ctx, s, x) => adamix(ctx, s as typeof spec, 'text.layers.0.ffn', x));
    const [ed, eu] = m.draws();
    const part = (k: string, e: number, n: number) => [...m.P(`text.layers.0.ffn.adamix.${k}`).slice(e * n, e * n + n)];
    expectRows(m.y, (b) =>
      add(
        add(
          m.X(b),
          mm(
            map(add(mm(m.X(b), mat(d, 4, part('down.W', ed, 4 * d))), part('down.b', ed, 4)), gelu),
            mat(4, d, part('up.W', eu, 4 * d)),
          ),
        ),
        part('up.b', eu, d),
      ),
    );
    gradCheck(m.graph, m.feeds);
    const inf = moduleGraph(spec, (ctx, s, x) => adamix(ctx, s as typeof spec, 'text.layers.0.ffn', x), 'infer');
    const avg = (k: string) => mean(inf.P(`text.layers.0.ffn.adamix.${k}`), 2);
    expectRows(inf.y, (b) =>
      add(
        add(
          inf.X(b),
          mm(map(add(mm(inf.X(b), mat(d, 4, avg('down.W'))), avg('down.b')), gelu), mat(4, d, avg('up.W'))),
        ),
        avg('up.b'),
      ),
    );
  });
});

describe('expert initialization', () => {
  it('every expert starts as a copy of one draw (the published code deep-copies one expert), per factor; other params are not tiled', () => {
    const spec = vl
      .model({
        text: vl.encoder({ vocab: 5, maxLen: 3, width: 8, depth: 2, heads: 2 }),
        head: vl.classifier({ answers: 2 }),
      })
      .freeze('**')
      .insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 3, bottleneck: 4, kron: 2, rank: 2, shareDown: 'none' }))
      .insert(peft.adamix({ at: 'text.layers.*.attn', experts: 2, bottleneck: 4 })).spec;
    const { graph } = lowerModel(spec, { batch: 1, mode: 'train' });
    const w = initialWeights(graph, 3);
    const stacked = Object.keys(w).filter((k) => /(mixphm\.(down|up)\.[TU]|adamix\.down\.W)$/.test(k));
    expect(stacked.length).toBe(2 * 4 + 2); // 2 layers x (down, up) x (T, U), 2 AdaMix downs
    for (const k of stacked) {
      const E = graph.leaf('param', k)!.shape[0];
      const n = w[k].length / E;
      for (let e = 1; e < E; e++)
        expect([...w[k].subarray(e * n, (e + 1) * n)], `${k} expert ${e}`).toEqual([...w[k].subarray(0, n)]);
      expect(new Set(w[k].subarray(0, n)).size, k).toBeGreaterThan(n / 2); // a real draw, not constant
    }
    // Different modules draw differently.
    expect([...w['text.layers.0.ffn.mixphm.up.T']]).not.toEqual([...w['text.layers.1.ffn.mixphm.up.T']]);
  });
});

describe('merging at compile time', () => {
  const base = () =>
    vl
      .model({
        vision: vl.vit({ image: [4, 4], patch: 2, width: 8, depth: 1, heads: 2 }),
        text: vl.encoder({ vocab: 6, maxLen: 3, width: 8, depth: 2, heads: 2 }),
        visualPrefix: 'pooled',
        head: vl.classifier({ answers: 3 }),
      })
      .freeze('**');

  function compare(specB: ReturnType<typeof base>, lhs: Mode, exact: boolean) {
    const a = lowerModel(specB.spec, { batch: 2, mode: lhs });
    const m = lowerModel(specB.spec, { batch: 2, mode: 'infer', merged: true });
    const r = rng(21);
    const params: Record<string, Value> = {};
    for (const [k, n] of a.graph.params()) params[k] = draw(r, n.shape);
    const merged = mergeWeights(
      specB.spec,
      Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.data])),
      m.graph,
    );
    const inputs = {
      image: draw(r, [2, 1, 4, 4]),
      tokens: draw(r, [2, 3], { int: 6 }, 'i32'),
      mask: Value.of([2, 3], [1, 1, 1, 1, 1, 0]),
      targets: draw(r, [2, 3], 'positive'),
      seed: Value.scalar(9, 'u32'),
    };
    const pick = (g: typeof a.graph) => Object.fromEntries(Object.entries(inputs).filter(([k]) => g.inputs().has(k)));
    const ya = evaluate(a.graph, { params, inputs: pick(a.graph) }, ['logits']).logits;
    const ym = evaluate(
      m.graph,
      {
        params: Object.fromEntries(
          Object.entries(merged).map(([k, v]) => [k, new Value(m.graph.params().get(k)!.shape, v)]),
        ),
        inputs: pick(m.graph),
      },
      ['logits'],
    ).logits;
    ya.data.forEach((v, i) => expect(ym.data[i]).toBeCloseTo(v, exact ? 10 : 6));
    return { a, m };
  }

  it('LoRA folds into W0 exactly', () => {
    const { a, m } = compare(
      base().insert(peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2, alpha: 4 })),
      'infer',
      true,
    );
    expect([...m.graph.params().keys()].some((k) => k.includes('lora'))).toBe(false);
    expect(m.graph.params().size).toBeLessThan(a.graph.params().size);
  });

  it('MixPHM with one expert: training (no dropout) equals the merged graph exactly', () => {
    compare(
      base().insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 1, bottleneck: 4, kron: 2, rank: 2, dropout: 0 })),
      'train',
      true,
    );
  });

  it('MixPHM with several experts: unmerged inference equals the merged graph', () => {
    const { a, m } = compare(
      base().insert(peft.mixphm({ at: 'text.layers.*.ffn', experts: 4, bottleneck: 4, kron: 2, rank: 2 })),
      'infer',
      true,
    );
    const size = (g: typeof a.graph) =>
      [...g.params().values()].reduce((s, n) => s + n.shape.reduce((p, q) => p * q, 1), 0);
    expect(size(m.graph)).toBeLessThan(size(a.graph));
  });
});

describe('routing with an embedded visual prefix (regression)', () => {
  // A vision tower narrower than the text tower: the pooled feature reaches the text width only
  // through the prefix embedding, so routing must read the embedded prefix token (it once read
  // the raw pooled feature and failed inside a matmul: [4, 1, 16] @ [768, 8]).
  const model = (visualPrefix: 'pooled' | 'tokens') =>
    parseSpec({
      vision: { kind: 'vit', image: [4, 4], patch: 2, width: 6, depth: 1, heads: 2 },
      text: { kind: 'encoder', vocab: 5, maxLen: L, width: d, depth: 1, heads: 2 },
      visualPrefix,
      visualEmbed: true,
      head: { kind: 'classifier', answers: 2 },
      insertions: [peft.lora({ at: 'text.layers.0.attn.q', rank: 2, routing: 'inner' })],
      freeze: ['**'],
    });

  it('routes the prefix token itself, and differentiates correctly', () => {
    const { graph } = lowerModel(model('pooled'), { batch: B, mode: 'train' });
    const r = rng(5);
    const feeds = {
      params: Object.fromEntries([...graph.params()].map(([k, n]) => [k, draw(r, n.shape)])),
      inputs: Object.fromEntries(
        [...graph.inputs()].map(([k, n]) => [
          k,
          k === 'mask'
            ? Value.of(n.shape, new Array(B * L).fill(1))
            : draw(r, n.shape, n.dtype === 'i32' ? { int: 5 } : 'real', n.dtype),
        ]),
      ),
    };
    const A = graph.leaf('param', 'text.layers.0.attn.q.lora.A')!;
    const routed = graph.nodes.find((n) => n.op === 'matmul' && n.inputs[1] === A.id && n.shape[1] === 1)!;
    const token = graph.nodes.filter((n) => n.scope?.startsWith('prefix') && n.shape.join() === `${B},1,${d}`).at(-1)!;
    const v = evaluateNodes(graph, feeds, [routed.inputs[0], token.id]);
    expect([...v.get(routed.inputs[0])!.data]).toEqual([...v.get(token.id)!.data]);
    gradCheck(graph, feeds, 'loss', { maxCoords: 8 });
  });

  it('refuses a routed feature of the wrong width, naming both widths and the fix', () => {
    expect(() => lowerModel(model('tokens'), { batch: B, mode: 'train' })).toThrow(
      /visual feature is 6 wide and the text stream 8.*visualPrefix 'pooled' with visualEmbed: true/,
    );
  });
});
