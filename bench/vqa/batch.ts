/** The protocol's batch size (METHODS.md: 16). */
export const BATCH = 16;
