/**
 * The demo page's script as one ES module, bundled by esbuild for the browser: the runtime with
 * every module that has a `.browser.ts` (or, built, `.browser.js`) sibling swapped for it (host.ts,
 * webgpu.ts), as the package's "browser" field tells a user's bundler. A node built-in or a native
 * package reached from the page is a build error here, never a page that fails to load.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
/** .ts in a source checkout (run through tsx), .js in the built package. */
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

const browserSiblings: Plugin = {
  name: 'peftgraph-browser-siblings',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const path = resolve(args.resolveDir, args.path);
      const sibling = path.replace(/\.(ts|js)$/, '.browser.$1');
      return sibling !== path && existsSync(sibling) ? { path: sibling } : undefined;
    });
  },
};

/**
 * The page script (src/web/app.ts) bundled with the runtime, as the text of one ES module.
 * `swap: false` bundles node's modules instead (the test that the swap is what keeps node out).
 */
export async function bundlePage(o: { swap?: boolean } = {}): Promise<string> {
  const r = await build({
    entryPoints: [resolve(here, `app${ext}`)],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: o.swap === false ? [] : [browserSiblings],
  });
  return r.outputFiles[0].text;
}
