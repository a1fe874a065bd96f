/**
 * An adapter's card (README.md beside adapter.safetensors, as HF's model cards): what was
 * inserted where, how many values it trains, the base it belongs to, the data and the scores.
 * Front matter in HF's model-card keys (library and tags; the base is a local directory, no hub
 * id, so it is in the text, not in `base_model`).
 */
import type { Graph } from '../compiler/ir/graph.ts';
import { paramReport } from '../compiler/params-report.ts';
import type { ModelSpec } from '../dsl/spec.ts';
import { metricName, type TrainResult } from './trainer.ts';

const fmt = (x: number) => x.toLocaleString('en-US');

/** An insertion's options other than its kind and points, as `key value` pairs. */
function options(p: Record<string, unknown>): string {
  return Object.entries(p)
    .filter(([k, v]) => k !== 'method' && k !== 'at' && v !== undefined)
    .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(', ');
}

function towers(spec: ModelSpec): string[] {
  return (['vision', 'text'] as const).flatMap((t) => {
    const tower = spec[t];
    if (!tower) return [];
    return [
      `${t}: ${tower.pretrained ? `${tower.pretrained.family} from \`${tower.pretrained.dir}\`` : `${tower.kind}, randomly initialized`}`,
    ];
  });
}

export function adapterCard(
  r: TrainResult,
  graph: Graph,
  o: {
    values: number;
    data?: string;
    test?: { loss: number; accuracy: number; exactMatch: number; examples?: number };
  },
): string {
  const { spec } = r;
  const report = paramReport(graph);
  const metric = metricName(spec);
  const kinds = [...new Set(spec.insertions.map((p) => p.method))];
  const head =
    spec.head.kind === 'classifier'
      ? `classifier, ${spec.head.answers} answers, ${spec.head.loss} loss`
      : `${spec.head.kind} head`;
  const lines = [
    '---',
    'library_name: peftgraph',
    `tags: ${JSON.stringify(['peftgraph', ...kinds, spec.head.kind === 'lm' ? 'captioning' : 'vqa'])}`,
    '---',
    '',
    `# ${kinds.length ? kinds.join(' + ') : 'head-only'} adapter`,
    '',
    'Trainable weights for the base below, written by peftgraph (`adapter.safetensors`: the weights, the spec they were trained with, and the identity of the base).',
    '',
    '## Method',
    '',
    ...(spec.insertions.length
      ? [
          '| insertion | at | options |',
          '| --- | --- | --- |',
          ...spec.insertions.map(
            (p) =>
              `| ${p.method} | ${'at' in p ? `\`${[p.at].flat().join('`, `')}\`` : 'every weight'} | ${options(p as unknown as Record<string, unknown>) || '-'} |`,
          ),
        ]
      : ['No PEFT insertions: the head (and any unfrozen weights) train.']),
    '',
    `Head: ${head}. Frozen: ${spec.freeze.length ? spec.freeze.map((g) => `\`${g}\``).join(', ') : 'nothing'}.${spec.regularizers.length ? ` Regularizers: ${spec.regularizers.map((g) => options(g as unknown as Record<string, unknown>)).join('; ')}.` : ''}`,
    '',
    '## Sizes',
    '',
    `${fmt(o.values)} trainable values (${report.percent.toFixed(4)}% of ${fmt(report.total)}), ${fmt(o.values * 4)} bytes as f32:`,
    '',
    '| part | trainable values |',
    '| --- | --- |',
    ...Object.entries(report.byMethod).map(([m, n]) => `| ${m} | ${fmt(n)} |`),
    '',
    '## Base',
    '',
    ...towers(spec).map((t) => `- ${t}`),
    ...spec.init.map((f) => `- init file: \`${f}\` (the weights it names start from it)`),
    `- init seed of the weights no directory${spec.init.length ? ' or init file' : ''} supplies: ${r.seed}`,
    `- frozen weights sha256: \`${r.identity.hash}\``,
    ...Object.entries(r.inputs).map(([k, v]) => `- ${k} sha256: \`${v}\``),
    '',
    '## Data',
    '',
    ...(o.data ? [`${o.data}.`, ''] : []),
    `${fmt(r.examples.train)} training examples${r.examples.dev !== undefined ? `, ${fmt(r.examples.dev)} dev examples` : ', no dev set'}; ${r.history.length} epochs${r.stoppedEarly ? ' (stopped early)' : ''}.`,
    '',
    '## Scores',
    '',
    ...(r.best
      ? [`- dev ${metric.accuracy}: ${r.best.accuracy.toFixed(4)} (best, epoch ${r.best.epoch + 1}; these weights)`]
      : ["- no dev evaluation: these are the last epoch's weights"]),
    ...(o.test
      ? [
          `- test ${metric.accuracy}: ${o.test.accuracy.toFixed(4)}, ${metric.exactMatch} ${o.test.exactMatch.toFixed(4)}, loss ${o.test.loss.toFixed(4)}${o.test.examples !== undefined ? ` (${fmt(o.test.examples)} examples)` : ''}`,
        ]
      : []),
    `- last training loss: ${r.history.length ? r.history[r.history.length - 1].loss.toFixed(4) : '-'}`,
    '',
    '## Use',
    '',
    '```sh',
    `npx peftgraph ${spec.head.kind === 'lm' ? 'predict --adapter <this directory> --image photo.jpg' : 'predict --adapter <this directory> --image photo.jpg --question "..."'}`,
    'npx peftgraph merge --adapter <this directory> --out merged.safetensors',
    '```',
    '',
    "In code: `loadAdapter('<this directory>')` gives the spec, the weights on their base, and the answers.",
    '',
  ];
  return lines.join('\n');
}
