/** Learning-rate schedules, evaluated on the host each step (the value is a step input). */
export type Schedule = { kind: 'constant' } | { kind: 'linear'; warmup?: number } | { kind: 'cosine'; warmup?: number };

/**
 * lr at `step` (0-based) of `total`: warmup is a fraction of `total` (METHODS.md: 5%) with a
 * linear ramp from 0; linear decays to 0 at `total`; cosine follows half a cosine to 0.
 */
export function lrAt(s: Schedule, base: number, step: number, total: number): number {
  if (s.kind === 'constant') return base;
  const warm = Math.floor((s.warmup ?? 0) * total);
  if (step < warm) return (base * (step + 1)) / warm;
  const t = Math.min(1, (step - warm) / Math.max(1, total - warm));
  return s.kind === 'linear' ? base * (1 - t) : base * 0.5 * (1 + Math.cos(Math.PI * t));
}
