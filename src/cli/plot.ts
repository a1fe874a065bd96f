/**
 * Charts (training curves, benchmark results) rendered headless with vega-lite to SVG (no
 * browser, no canvas); PNG through sharp's SVG renderer (already the image decoder).
 */
import { writeAtomic } from '../runtime/safetensors.ts';
import { join } from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { EpochRecord } from '../train/trainer.ts';
import type { StepRecord } from '../train/step-log.ts';

/**
 * The training curves: the epoch chart, then one small chart per step series (each loss term,
 * the learning rate, the gradient norm before clipping), each on its own y scale.
 */
export function trainingCurvesSpec(history: EpochRecord[], steps: StepRecord[], title: string): TopLevelSpec {
  const series = (r: StepRecord) => [
    ...Object.entries(r.losses).map(([k, v]) => ({ series: k, value: v })),
    { series: 'learning rate', value: r.lr },
    { series: 'grad norm', value: r.gradNorm },
  ];
  const values = steps.flatMap((r) => series(r).map((p) => ({ step: r.step, ...p })));
  const perStep = {
    data: { values },
    facet: { row: { field: 'series', type: 'nominal', title: null, sort: null } },
    spec: {
      width: 480,
      height: 80,
      mark: { type: 'line', strokeWidth: 1 },
      encoding: {
        x: {
          field: 'step',
          type: 'quantitative',
          title: 'step (as in steps.jsonl)',
          axis: { tickMinStep: 1, format: 'd' },
        },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
      },
    },
    resolve: { scale: { y: 'independent' } },
  };
  return { title, vconcat: [epochChart(history), ...(steps.length ? [perStep] : [])] } as TopLevelSpec;
}

/** Writes curve.svg and curve.png to `dir`. */
export async function writeCurves(
  dir: string,
  history: EpochRecord[],
  steps: StepRecord[],
  title: string,
): Promise<void> {
  const svg = await renderSvg(trainingCurvesSpec(history, steps, title));
  writeAtomic(join(dir, 'curve.svg'), Buffer.from(svg));
  writeAtomic(join(dir, 'curve.png'), await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer());
}

/** Epoch curves: train and dev loss on one axis, dev accuracy on its own (a loss of 2,000 would flatten it). */
function epochChart(history: EpochRecord[]) {
  const losses = history.flatMap((r) => [
    { epoch: r.epoch + 1, series: 'train loss', value: r.loss },
    ...(r.dev ? [{ epoch: r.epoch + 1, series: 'dev loss', value: r.dev.loss }] : []),
  ]);
  const accuracy = history.flatMap((r) =>
    r.dev ? [{ epoch: r.epoch + 1, series: 'dev accuracy', value: r.dev.accuracy }] : [],
  );
  const x = { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } };
  const panel = (values: object[], title: string, height: number) => ({
    width: 480,
    height,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: { x, y: { field: 'value', type: 'quantitative', title }, color: { field: 'series', type: 'nominal' } },
  });
  return { vconcat: [panel(losses, 'loss', 200), ...(accuracy.length ? [panel(accuracy, 'dev accuracy', 120)] : [])] };
}

/** Renders any vega-lite spec to SVG headless. */
export function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
