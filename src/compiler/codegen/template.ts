/**
 * WGSL templates live in kernels/*.wgsl with ${NAME} holes. render() fills every hole and
 * refuses a template with a hole left unfilled or a value the template does not use, so a
 * template and its generator cannot drift apart silently.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../../../kernels/', import.meta.url));
const cache = new Map<string, string>();

export function template(name: string): string {
  let t = cache.get(name);
  if (t === undefined) {
    t = readFileSync(`${dir}${name}.wgsl`, 'utf8');
    cache.set(name, t);
  }
  return t;
}

export function render(name: string, vars: Record<string, string | number>): string {
  const t = template(name);
  const used = new Set<string>();
  const out = t.replace(/\$\{([A-Z0-9_]+)\}/g, (_, k: string) => {
    if (!(k in vars)) throw new Error(`template ${name}.wgsl: no value for \${${k}}`);
    used.add(k);
    return String(vars[k]);
  });
  const unused = Object.keys(vars).filter((k) => !used.has(k));
  if (unused.length) throw new Error(`template ${name}.wgsl: values not used: ${unused.join(', ')}`);
  return out;
}
