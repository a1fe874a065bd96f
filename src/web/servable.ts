/**
 * What a page needs of an artifact, checked before anything is written or served: an inference
 * artifact of a VQA classifier or a captioning LM with its tokenizer (and answers) bundled. The
 * page refuses the rest too, but there only after loading the weights.
 */
import { join } from 'node:path';
import { ArtifactError, ArtifactSchema, BUNDLE, DIGEST_FILE, type ArtifactJson } from '../runtime/artifact.ts';
import { missingBundle } from '../runtime/bundled-model.ts';
import { readJsonFile } from '../runtime/files.ts';

export function servableMeta(dir: string): ArtifactJson {
  let raw: unknown;
  try {
    raw = readJsonFile(join(dir, 'plan.json'), 'plan');
  } catch (e) {
    throw new ArtifactError(
      dir,
      `not an artifact (${(e as Error).message}); compile one with \`peftgraph compile --adapter <run>\``,
    );
  }
  const r = ArtifactSchema.safeParse(raw);
  if (!r.success)
    throw new ArtifactError(
      dir,
      'plan.json is not one this version reads: recompile with `peftgraph compile --adapter <run>`',
    );
  const meta = r.data;
  if (meta.mode !== 'infer' || !meta.task)
    throw new ArtifactError(
      dir,
      'a page runs inference artifacts of a VQA classifier or a captioning LM (compile --mode infer)',
    );
  const missing = missingBundle(meta);
  if (missing.length)
    throw new ArtifactError(
      dir,
      `does not bundle ${missing.join(' or ')}: a page reads only the artifact, so compile it with --adapter <run directory>`,
    );
  if (!meta.bundle.includes(BUNDLE.weights))
    throw new ArtifactError(dir, 'bundles no weights: compile it with --adapter <run directory>');
  return meta;
}

/** The files a page loads of an artifact: plan.json, its digest, the kernels its plans name, the bundle. */
export function artifactFiles(meta: ArtifactJson): string[] {
  const plans = [...meta.plans, ...(meta.generate ? [meta.generate.prefill, meta.generate.step] : [])];
  const kernels = new Set(plans.flatMap(({ plan }) => plan.kernels.map((k) => k.file)));
  return ['plan.json', DIGEST_FILE, ...kernels, ...meta.bundle];
}
