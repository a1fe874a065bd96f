/**
 * The demo page for an artifact: index.html and app.js (bundle.ts), with the artifact's files
 * under model/. `peftgraph serve` serves them from 127.0.0.1; `--out` writes them as a static
 * site any web server can host (WebGPU needs a secure context: https, or localhost).
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ArtifactError, type ArtifactJson } from '../runtime/artifact.ts';
import { makeDirs } from '../runtime/files.ts';
import { bundlePage } from './bundle.ts';
import { artifactFiles } from './servable.ts';
import { artifactFile } from './serve.ts';

const html = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function pageHtml(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html(title)} · peftgraph</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; margin-bottom: .2rem; } .sub { color: #666; margin-top: 0; }
  form { display: grid; gap: .6rem; margin: 1rem 0; }
  #preview { width: 8rem; height: 8rem; object-fit: contain; image-rendering: pixelated; border: 1px solid #ccc; background: #f4f4f4; }
  input[type=text] { font: inherit; padding: .3rem; }
  button { font: inherit; padding: .3rem 1rem; justify-self: start; }
  #answers li { margin: .15rem 0; font-variant-numeric: tabular-nums; }
  #status { color: #555; } #status.error { color: #b00; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>${html(title)}</h1>
<p class="sub">Fine-tuned with peftgraph; runs in this page on WebGPU, no server.</p>
<form id="form">
  <label>Image <input type="file" id="image" accept="image/png,image/jpeg,image/webp,image/gif"></label>
  <img id="preview" alt="">
  <label id="question-row">Question <input type="text" id="question" size="40" placeholder="ask about the image"></label>
  <button id="go" type="submit" disabled>Ask</button>
</form>
<ol id="answers"></ol>
<p id="status">loading the model…</p>
<script type="module" src="app.js"></script>
</body>
</html>
`;
}

/** The page's files (the artifact's are served or copied beside them, under model/). */
export async function pageFiles(meta: ArtifactJson, title?: string): Promise<Map<string, string>> {
  const kind = meta.task?.kind === 'caption' ? 'captioning' : 'visual question answering';
  return new Map([
    ['index.html', pageHtml(title ?? `A ${kind} model`)],
    ['app.js', await bundlePage()],
  ]);
}

/**
 * Writes the page and the artifact's files the page loads (model/: plan.json, the digest, the
 * kernels, the bundle; nothing else of the directory, no symlink out of it) to `out`: a static site.
 */
export async function writePage(artifactDir: string, meta: ArtifactJson, out: string, title?: string): Promise<void> {
  const copies: [string, string][] = [];
  for (const f of artifactFiles(meta)) {
    const from = await artifactFile(artifactDir, f);
    if (!from) throw new ArtifactError(artifactDir, `${f}: not a regular file inside the artifact`);
    copies.push([from, join(out, 'model', f)]);
  }
  makeDirs(out);
  for (const [name, text] of await pageFiles(meta, title)) writeFileSync(join(out, name), text);
  for (const [from, to] of copies) {
    makeDirs(dirname(to));
    copyFileSync(from, to);
  }
}
