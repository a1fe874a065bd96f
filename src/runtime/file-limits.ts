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
  /** An artifact's bundled weights (safetensors); a binding's buffer is at most 4 GiB anyway. */
  weights: 8192 * MiB,
} as const;

/** `text` as JSON; bad JSON is an error naming `name` (a path or URL). */
export function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileError(`${name}: not valid JSON (${(e as Error).message})`);
  }
}
