/**
 * The names of a cached decoding step's inputs and outputs: the compiler declares them
 * (compiler/lower/kv-cache.ts), the runtime's decoder feeds them (runtime/kv-decode.ts); one
 * place, so neither side can rename one alone.
 */
export const KV_INPUTS = {
  token: 'tokens',
  /** Text position of the new token: its position-embedding row (i32 [1]). */
  position: 'kv.position',
  /** Cache position the new token's key and value go to (f32 [1]). */
  at: 'kv.at',
  /** Per sequence, the cache row it continues (i32 [B]). */
  parents: 'kv.parents',
  /** Key mask over the cache [B, length]: 1 for the prefix, the prompt and the tokens so far (the new one included). */
  mask: 'kv.mask',
  /** The visual feature routing reads (a prefill output, a step input). */
  visual: 'kv.visual',
  /** An encoder-decoder's encoder mask [B, Lenc] (a prefill output, a step input). */
  crossMask: 'kv.xmask',
} as const;

/** Layer i's cache of keys or values [B, H, length, dh]: a prefill output and a step input. */
export const kvName = (kind: 'k' | 'v', layer: number) => `kv.${kind}.${layer}`;
/** An encoder-decoder's layer i cross-attention keys or values over the encoder output [B, H, Lenc, dh]: computed once by prefill, read by every step. */
export const kvCross = (kind: 'k' | 'v', layer: number) => `kv.x${kind}.${layer}`;
/** The step's updated cache, which trades buffers with its input after each step. */
export const kvNext = (name: string) => `${name}.next`;
/** Whether a step input is a cache. */
export const isKvCache = (name: string) => /^kv\.[kv]\.\d+$/.test(name);
