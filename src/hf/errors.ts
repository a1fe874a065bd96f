/** Errors about a pretrained directory: its config, its files, or how they fit the model. */
export class PretrainedError extends Error {
  override name = 'PretrainedError';
}
