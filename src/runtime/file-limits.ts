/**
 * What every file read obeys, wherever it is read from (a directory in node, a URL in the
 * browser): size bounds by kind of file, and the error that names the file. No node built-ins.
 */
import { UserError } from '../user-error.ts';

export class FileError extends UserError {
  override name = 'FileError';
}

const MiB = 2 ** 20;

/** Size bounds by kind of file: far above any real one, far below what would exhaust memory. */
export const FILE_LIMITS = {
  json: 256 * MiB,
  text: 1024 * MiB,
  image: 256 * MiB,
  wgsl: 4 * MiB,
  /** Weights read whole (an artifact's, or a path given for them): the most one buffer holds in node. */
  weights: 4096 * MiB - 1,
} as const;

/** `text` as JSON; bad JSON is an error naming `name` (a path or URL). */
export function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileError(`${name}: not valid JSON (${(e as Error).message})`);
  }
}
