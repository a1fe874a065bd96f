/** Errors about user data: a file, a record, a field; printed without a stack trace. */
import { UserError } from '../user-error.ts';
export class DataError extends UserError {
  override name = 'DataError';
}
