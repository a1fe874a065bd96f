/** The fuzz suites' mutation: one field at a random path of a JSON value replaced with an odd value, or deleted. */

export function mutator(r: () => number, weird: readonly unknown[], maxDepth = 4) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  return (x: unknown): unknown => {
    const c = structuredClone(x) as Record<string, unknown>;
    let node: Record<string, unknown> = c;
    for (let depth = 0; depth < maxDepth; depth++) {
      const keys = Object.keys(node);
      if (!keys.length) break;
      const k = pick(keys);
      const child = node[k];
      if (child && typeof child === 'object' && r() < 0.6) {
        node = child as Record<string, unknown>;
        continue;
      }
      if (r() < 0.2) delete node[k];
      else node[k] = pick(weird);
      break;
    }
    return c;
  };
}
