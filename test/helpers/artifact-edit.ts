/** Editing a compiled artifact's plan.json as a deliberate hand edit would, digest rewritten, to reach the checks behind the digest. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifactDigest, DIGEST_FILE } from '../../src/runtime/artifact.ts';

export function rewritePlan(dir: string, plan: unknown): void {
  const text = JSON.stringify(plan);
  writeFileSync(join(dir, 'plan.json'), text);
  const kernels = new Map(
    readdirSync(join(dir, 'kernels')).map((f) => [`kernels/${f}`, readFileSync(join(dir, 'kernels', f), 'utf8')]),
  );
  // Only the kernels the plan names count; a mangled plan may name none of them, which the loader then says.
  const named = new Set(JSON.stringify(plan).match(/kernels\/[A-Za-z0-9_.-]+\.wgsl/g) ?? []);
  writeFileSync(join(dir, DIGEST_FILE), artifactDigest(text, new Map([...kernels].filter(([k]) => named.has(k)))));
}
