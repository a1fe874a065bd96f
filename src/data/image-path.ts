/** An image a record names: it must exist, and lie inside its data's directory unless the caller allows any path. */
import { existsSync, realpathSync } from 'node:fs';
import { sep } from 'node:path';
import { DataError } from './errors.ts';

/** Where a split's images may be: inside `root` (symlinks resolved), unless the caller allows any path. */
export interface ImageScope {
  root: string;
  allowOutside?: boolean;
}

/** Checks the image of the record at `where`; returns its path. */
export function checkImage(image: string, where: string, scope: ImageScope): string {
  if (!existsSync(image)) throw new DataError(`${where}: image ${image} does not exist`);
  if (!scope.allowOutside) {
    // '..', absolute paths and symlinks must not leave the data: a record names its data's own images.
    const root = realpathSync(scope.root);
    const real = realpathSync(image);
    if (real !== root && !real.startsWith(root + sep))
      throw new DataError(
        `${where}: image ${image}${real !== image ? ` (${real})` : ''} is outside the data directory ${root} (--allow-outside-data allows it)`,
      );
  }
  return image;
}
