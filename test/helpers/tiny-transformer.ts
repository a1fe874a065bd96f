/**
 * A small pre-LN transformer classifier built directly with the Builder, for compiler tests
 * (the DSL's backbones are tested separately). Optional LoRA on q and v of chosen layers.
 */
import { Builder, type Tensor } from '../../src/compiler/builder.ts';
import { attention, crossEntropy, layerNorm, linear } from '../../src/compiler/composites.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { draw, rng } from './random.ts';

export interface TinyOpts {
  layers?: number;
  d?: number;
  heads?: number;
  L?: number;
  B?: number;
  vocab?: number;
  classes?: number;
  /** Layers that get a trainable LoRA on q and v; everything else is frozen. */
  loraLayers?: number[];
  loraRank?: number;
  /** Train every weight instead (full finetuning). */
  full?: boolean;
}

export function tinyTransformer(o: TinyOpts = {}) {
  const {
    layers = 2,
    d = 8,
    heads = 2,
    L = 4,
    B = 2,
    vocab = 11,
    classes = 3,
    loraLayers = [],
    loraRank = 2,
    full = false,
  } = o;
  const b = new Builder();
  const frozen = { trainable: full, init: { kind: 'normal' as const, std: 0.2 } };
  const ones = { trainable: full, init: { kind: 'ones' as const }, noDecay: true };
  const zeros = { trainable: full, init: { kind: 'zeros' as const }, noDecay: true };
  const tokens = b.input('tokens', [B, L], 'i32');
  const labels = b.input('labels', [B], 'i32');
  let h = b.scope('embed', () =>
    b.gather(b.param('embed.tok', [vocab, d], frozen), tokens).add(b.param('embed.pos', [L, d], frozen)),
  );
  const proj = (x: Tensor, name: string, lora: boolean) => {
    let y = linear(b, x, b.param(`${name}.W`, [d, d], frozen), b.param(`${name}.b`, [d], zeros));
    if (lora) {
      const A = b.param(`${name}.lora.A`, [d, loraRank], { trainable: true, init: { kind: 'kaiming', fanIn: d } });
      const Bm = b.param(`${name}.lora.B`, [loraRank, d], { trainable: true, init: { kind: 'zeros' } });
      y = y.add(b.scope('lora', () => x.matmul(A).matmul(Bm)));
    }
    return y;
  };
  for (let l = 0; l < layers; l++) {
    const p = `layers.${l}`;
    const lora = loraLayers.includes(l);
    h = b.scope(p, () => {
      const a = b.scope('attn', () => {
        const x = layerNorm(b, h, b.param(`${p}.ln1.g`, [d], ones), b.param(`${p}.ln1.b`, [d], zeros));
        const q = b.scope('q', () => proj(x, `${p}.attn.q`, lora));
        const k = b.scope('k', () => proj(x, `${p}.attn.k`, false));
        const v = b.scope('v', () => proj(x, `${p}.attn.v`, lora));
        return proj(attention(b, { q, k, v, heads }), `${p}.attn.o`, false);
      });
      const h1 = h.add(a);
      const f = b.scope('ffn', () => {
        const x = layerNorm(b, h1, b.param(`${p}.ln2.g`, [d], ones), b.param(`${p}.ln2.b`, [d], zeros));
        const u = linear(
          b,
          x,
          b.param(`${p}.ffn.up.W`, [d, 2 * d], frozen),
          b.param(`${p}.ffn.up.b`, [2 * d], zeros),
        ).gelu();
        return linear(b, u, b.param(`${p}.ffn.down.W`, [2 * d, d], frozen), b.param(`${p}.ffn.down.b`, [d], zeros));
      });
      return h1.add(f);
    });
  }
  const logits = b.scope('head', () =>
    linear(
      b,
      h.mean([1]),
      b.param('head.W', [d, classes], { trainable: true, init: { kind: 'normal', std: 0.2 } }),
      b.param('head.b', [classes], { trainable: true, init: { kind: 'zeros' }, noDecay: true }),
    ),
  );
  b.output('logits', logits);
  b.output(
    'loss',
    b.scope('loss', () => crossEntropy(b, logits, labels)),
  );
  return { b, graph: b.g, dims: { layers, d, heads, L, B, vocab, classes } };
}

/** Random params and a batch for a graph from tinyTransformer. */
export function tinyFeeds(graph: ReturnType<typeof tinyTransformer>['graph'], seed = 7) {
  const r = rng(seed);
  const params: Record<string, Value> = {};
  for (const [name, n] of graph.params()) {
    const init = (n.attrs.info as { init: { kind: string } }).init.kind;
    // LoRA B starts at zero in practice; here it is random so gradients through A are non-zero.
    params[name] =
      init === 'ones'
        ? Value.of(n.shape, new Array(n.shape.reduce((p, q) => p * q, 1)).fill(1))
        : draw(r, n.shape, 'real');
    if (init !== 'ones') params[name].data.forEach((x, i, arr) => (arr[i] = x * 0.3));
  }
  const inputs: Record<string, Value> = {};
  for (const [name, n] of graph.inputs()) {
    const high = name === 'tokens' ? graph.params().get('embed.tok')!.shape[0] : graph.params().get('head.b')!.shape[0];
    inputs[name] = draw(r, n.shape, { int: high }, n.dtype);
  }
  return { params, inputs };
}
