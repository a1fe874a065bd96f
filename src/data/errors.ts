/** Errors about user data: a file, a record, a field; printed without a stack trace. */
export class DataError extends Error {
  override name = 'DataError';
}
