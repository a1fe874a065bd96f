/** The full-finetuning variant of a spec the step benches time: nothing frozen, no insertions, no regularizers. */
export function fullFinetuning<S extends { freeze: unknown[]; insertions: unknown[]; regularizers: unknown[] }>(
  spec: S,
): S {
  return { ...spec, freeze: [], insertions: [], regularizers: [] };
}
