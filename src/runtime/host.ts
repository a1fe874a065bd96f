/**
 * The runtime's host in node (host-types.ts): files from directories, read as regular files
 * only and within their size bounds (files.ts); images decoded by sharp; node's sha256. The
 * browser build replaces this module with host.browser.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImage } from '../data/image-decode.ts';
import { readChunks, readJsonFile, readRegular } from './files.ts';
import type { ArtifactSource, Hasher, Host } from './host-types.ts';

function nodeHasher(): Hasher {
  const h = createHash('sha256');
  const self: Hasher = {
    update(data) {
      h.update(data);
      return self;
    },
    digest: () => h.digest('hex'),
  };
  return self;
}

/** A bytes view of a read (a Buffer is a Uint8Array already; this keeps the type plain). */
const read = (path: string, what: string, maxBytes: number): Uint8Array => readRegular(path, what, maxBytes);

export function dirSource(dir: string | URL): ArtifactSource {
  const root = typeof dir === 'string' ? dir : fileURLToPath(dir);
  return {
    name: root,
    read: async (file, what, maxBytes) => read(join(root, file), what, maxBytes),
    stream: async (file, what, maxBytes, each) => readChunks(join(root, file), what, maxBytes, each),
  };
}

export const host: Host = {
  source: dirSource,
  readFile: async (where, what, maxBytes) => read(where, what, maxBytes),
  decodeImage,
  sha256: nodeHasher,
  readJson: readJsonFile,
  exists: existsSync,
  join,
};
