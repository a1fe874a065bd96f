/**
 * Earlier rules of defaultMatmulVariant (src/compiler/plan.ts), kept so that benches can time a
 * step or a matmul under the rule a change replaced, side by side with today's.
 */
import type { MatmulVariant } from '../src/compiler/codegen/kernels.ts';
import type { DeviceProfile } from '../src/compiler/plan.ts';

/** Software adapters before 'packed' tiles (issue 34): 8x8, or 8x4 when N < 64 or 8x8 leaves under 4 workgroups of 64. */
export function beforePacked(p: DeviceProfile, shape: readonly number[]): MatmulVariant {
  if (!p.isSoftware) return { family: 'tiled' };
  const N = shape[shape.length - 1];
  const rows = shape.reduce((a, b) => a * b, 1) / N;
  const groups8 = (Math.ceil(rows / 8) * Math.ceil(N / 8)) / 64;
  return { family: 'reg', tm: 8, tn: N >= 64 && groups8 >= 4 ? 8 : 4, wgx: 8, wgy: 8 };
}
