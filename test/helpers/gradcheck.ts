/**
 * Gradient checking: the compiler's autodiff (evaluated on the reference interpreter) against
 * central finite differences of the forward graph, in Float64.
 */
import { expect } from 'vitest';
import type { Graph } from '../../src/compiler/ir/graph.ts';
import { Value } from '../../src/compiler/ir/value.ts';
import { autodiff, gradName } from '../../src/compiler/autodiff.ts';
import { evaluate, type Feeds } from '../../src/compiler/reference.ts';

export interface GradCheckOptions {
  h?: number;
  rtol?: number;
  atol?: number;
  /** Check at most this many coordinates per param (spread evenly). */
  maxCoords?: number;
}

/** Returns the max relative error seen; fails the test when a coordinate is out of tolerance. */
export function gradCheck(forward: Graph, feeds: Feeds, loss = 'loss', opts: GradCheckOptions = {}): number {
  const { h = 1e-5, rtol = 1e-6, atol = 1e-8, maxCoords = 64 } = opts;
  const { graph } = autodiff(forward, { loss });
  const trainable = [...forward.params().values()].filter((p) => (p.attrs.info as { trainable: boolean }).trainable);
  const outs = evaluate(
    graph,
    feeds,
    trainable.map((p) => gradName(p.attrs.name as string)),
  );
  let worst = 0;
  for (const p of trainable) {
    const name = p.attrs.name as string;
    const base = feeds.params![name];
    const analytic = outs[gradName(name)];
    const n = base.data.length;
    const step = Math.max(1, Math.floor(n / maxCoords));
    for (let i = 0; i < n; i += step) {
      const at = (delta: number) => {
        const d = Float64Array.from(base.data);
        d[i] += delta;
        const f = { ...feeds, params: { ...feeds.params, [name]: new Value(base.shape, d, base.dtype) } };
        return evaluate(forward, f, [loss])[loss].data[0];
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      const a = analytic.data[i];
      const err = Math.abs(a - numeric);
      const scale = Math.max(Math.abs(a), Math.abs(numeric));
      worst = Math.max(worst, scale > 0 ? err / scale : 0);
      if (err > rtol * scale + atol) {
        expect.fail(
          `d loss / d ${name}[${i}]: autodiff ${a}, finite differences ${numeric} (|diff| ${err.toExponential(2)})`,
        );
      }
    }
  }
  return worst;
}
