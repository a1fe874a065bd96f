/**
 * Insertion paths: stable dotted names of the places PEFT methods attach to, and globs over
 * them. `*` matches one segment, `**` any number of segments, `{a,b}` one of the alternatives.
 * The template-literal types reject a misspelled path at compile time where the backbone
 * kind is known; lowering checks every glob against the real points either way.
 */

type Idx = `${number}` | '*';
type Alt = `{${string}}`;
export type Projection = 'q' | 'k' | 'v' | 'o';

/** Linear layers LoRA can wrap. */
export type LinearPath =
  | `${'text' | 'vision' | 'encoder'}.layers.${Idx}.attn.${Projection | Alt | '*'}`
  | `decoder.layers.${Idx}.${'attn' | 'cross'}.${Projection | Alt | '*'}`
  | `${'text' | 'vision' | 'encoder' | 'decoder'}.layers.${Idx}.ffn.${'up' | 'down' | 'gate' | Alt | '*'}`;

/** Sublayer outputs adapters and MixPHM attach to (before the residual add). */
export type SublayerPath =
  | `${'text' | 'vision' | 'encoder'}.layers.${Idx}.${'attn' | 'ffn' | Alt | '*'}`
  | `decoder.layers.${Idx}.${'attn' | 'cross' | 'ffn' | Alt | '*'}`
  | '**';

function segmentRegex(seg: string): string {
  if (seg === '*') return '[^.]+';
  const alt = /^\{(.+)\}$/.exec(seg);
  if (alt) return `(?:${alt[1].split(',').map(escapeRegex).join('|')})`;
  return escapeRegex(seg);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function globToRegex(glob: string): RegExp {
  const segs = glob.split('.');
  let re = '';
  segs.forEach((seg, i) => {
    const sep = i === 0 ? '' : '\\.';
    if (seg === '**') re += i === 0 ? '(?:[^.]+(?:\\.[^.]+)*)?' : '(?:\\.[^.]+)*';
    else re += sep + segmentRegex(seg);
  });
  return new RegExp(`^${re}$`);
}

export function matches(glob: string | string[], path: string): boolean {
  return (Array.isArray(glob) ? glob : [glob]).some((g) => globToRegex(g).test(path));
}

/** Compresses a list of paths for error messages: text.layers.{0..3}.attn.q */
export function summarizePaths(paths: string[]): string[] {
  const groups = new Map<string, number[]>();
  const plain: string[] = [];
  for (const p of paths) {
    const m = /^(.*\.layers\.)(\d+)(\..*)?$/.exec(p);
    if (!m) {
      plain.push(p);
      continue;
    }
    const key = `${m[1]}#${m[3] ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), Number(m[2])]);
  }
  const out = [...plain];
  for (const [key, idx] of groups) {
    const [pre, post] = key.split('#');
    const lo = Math.min(...idx);
    const hi = Math.max(...idx);
    out.push(`${pre}${idx.length === hi - lo + 1 && idx.length > 1 ? `{${lo}..${hi}}` : idx.join(',')}${post}`);
  }
  return [...new Set(out)];
}
