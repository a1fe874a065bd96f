/** Errors about a pretrained directory: its config, its files, or how they fit the model. */
import { UserError } from '../user-error.ts';
export class PretrainedError extends UserError {
  override name = 'PretrainedError';
}
