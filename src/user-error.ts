/**
 * The one base class of errors about the user's input (spec, data, files, flags, adapter):
 * the CLI prints their message alone; anything else is a bug and keeps its stack.
 */
export class UserError extends Error {}
