/**
 * The WGSL helper functions a kernel calls, and only those: the math helpers of
 * kernels/prelude.wgsl and the counter-based random numbers of ops/random.ts. Each kernel's
 * module carries the helpers its code names (and what they call in turn), so a kernel without
 * dropout does not carry the hash, and llvmpipe parses no dead code.
 */
import { template } from './template.ts';

interface Helper {
  name: string;
  source: string;
}

let table: Helper[] | undefined;

/** Splits WGSL into its functions, each with the comment lines just above it. */
function functions(wgsl: string): Helper[] {
  const out: Helper[] = [];
  let comments: string[] = [];
  for (const chunk of wgsl.split(/\n(?=\/\/|fn )/)) {
    const m = /^fn ([A-Za-z_][A-Za-z0-9_]*)\(/.exec(chunk);
    if (!m) {
      // A comment block: it belongs to the next function unless a blank line ends it.
      comments = /\n\s*$/.test(chunk) || !chunk.trim() ? [] : [...comments, chunk.trim()];
      continue;
    }
    out.push({ name: m[1], source: [...comments, chunk.trim()].join('\n') });
    comments = [];
  }
  return out;
}

function helpers(): Helper[] {
  table ??= [...functions(template('prelude')), ...functions(template('random'))];
  return table;
}

const calls = (code: string, name: string) => new RegExp(`\\b${name}\\(`).test(code);

/** The helpers `code` calls, transitively, in their order of definition (callees first). */
export function helpersFor(code: string): string {
  const all = helpers();
  const need = new Set<string>();
  const visit = (src: string) => {
    for (const h of all) {
      if (!need.has(h.name) && calls(src, h.name)) {
        need.add(h.name);
        visit(h.source);
      }
    }
  };
  visit(code);
  return all
    .filter((h) => need.has(h.name))
    .map((h) => h.source)
    .join('\n\n');
}
