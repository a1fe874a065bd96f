/** Bottleneck adapters' options and builders: Houlsby and Pfeiffer placements (lowering: compiler/lower/peft/adapter.ts). */
import { z } from 'zod';
import { parsePart } from '../parse.ts';
import type { SublayerPath } from '../paths.ts';
import { at, definePeft, pos, Routing, type In } from './parts.ts';

export const AdapterActivation = z.enum(['gelu', 'relu']);
export type AdapterActivation = z.infer<typeof AdapterActivation>;

export const AdapterSpec = z.strictObject({
  method: z.literal('adapter'),
  at,
  /** Bottleneck r = width / reduction (or `bottleneck` directly). */
  reduction: pos.optional(),
  bottleneck: pos.optional(),
  activation: AdapterActivation.default('gelu'),
  routing: Routing.default('none'),
});
export type AdapterSpec = z.infer<typeof AdapterSpec>;

type AdapterIn = Omit<In<typeof AdapterSpec>, 'at'>;
export const adapter = definePeft({
  schema: AdapterSpec,
  builders: {
    adapter: (o: AdapterIn & { at: SublayerPath | SublayerPath[] }) =>
      parsePart(AdapterSpec, { method: 'adapter', ...o }, 'adapter'),
    /** Houlsby: adapters after attention and after the FFN of the selected layers. */
    houlsby: (layers: string, o: AdapterIn = {}) =>
      parsePart(AdapterSpec, { method: 'adapter', ...o, at: `${layers}.{attn,ffn}` }, 'houlsby'),
    /** Pfeiffer: one adapter after the FFN of the selected layers. */
    pfeiffer: (layers: string, o: AdapterIn = {}) =>
      parsePart(AdapterSpec, { method: 'adapter', ...o, at: `${layers}.ffn` }, 'pfeiffer'),
  },
  needsVisual: (spec) => spec.routing !== 'none',
});
