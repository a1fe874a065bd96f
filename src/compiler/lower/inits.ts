/** Initializer shorthands the backbones and PEFT methods declare params with. */
import type { InitSpec } from '../ir/graph.ts';

export const xavier = (gain: number, fanIn: number, fanOut: number): InitSpec => ({
  kind: 'xavier',
  gain,
  fanIn,
  fanOut,
});
export const normal = (std: number): InitSpec => ({ kind: 'normal', std });
