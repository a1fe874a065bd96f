/**
 * What a page needs of an artifact, checked before anything is written or served: an inference
 * artifact of a VQA classifier or a captioning LM with its tokenizer (and answers) bundled. The
 * page refuses the rest too, but there only after loading the weights.
 */
import { join } from 'node:path';
import { allPlans, ArtifactError, BUNDLE, DIGEST_FILE, parseMeta, type ArtifactJson } from '../runtime/artifact.ts';
import { missingBundle } from '../runtime/bundled-model.ts';
import { FILE_LIMITS, readText } from '../runtime/files.ts';

export function servableMeta(dir: string): ArtifactJson {
  let text: string;
  try {
    text = readText(join(dir, 'plan.json'), 'plan', FILE_LIMITS.json);
  } catch (e) {
    throw new ArtifactError(
      dir,
      `not an artifact (${(e as Error).message}); compile one with \`peftgraph compile --adapter <run>\``,
    );
  }
  // The runtime's own check: the format version, then the schema, each named.
  const meta = parseMeta(dir, text);
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
  const kernels = new Set(allPlans(meta).flatMap(({ plan }) => plan.kernels.map((k) => k.file)));
  return ['plan.json', DIGEST_FILE, ...kernels, ...meta.bundle];
}
