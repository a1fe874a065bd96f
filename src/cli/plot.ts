/** Charts as SVG (training curves, benchmark results), rendered headless with vega-lite (no browser, no canvas). */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { EpochRecord } from '../train/trainer.ts';

export async function curveSvg(history: EpochRecord[], title: string): Promise<string> {
  const values = history.flatMap((r) => [
    { epoch: r.epoch + 1, series: 'train loss', value: r.loss },
    ...(r.dev
      ? [
          { epoch: r.epoch + 1, series: 'dev loss', value: r.dev.loss },
          { epoch: r.epoch + 1, series: 'dev VQA accuracy', value: r.dev.accuracy },
        ]
      : []),
  ]);
  const spec: TopLevelSpec = {
    title,
    width: 480,
    height: 260,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
      y: { field: 'value', type: 'quantitative', title: 'loss / accuracy' },
      color: { field: 'series', type: 'nominal' },
    },
  };
  return renderSvg(spec);
}

/** Renders any vega-lite spec to SVG headless. */
export function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
