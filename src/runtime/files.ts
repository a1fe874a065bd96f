/**
 * Reading a user's file without hanging, exhausting memory or following it somewhere it should
 * not be: only regular files (a FIFO blocks the reader until a writer comes, /dev/zero never
 * ends, a directory is no file), opened non-blocking and checked again once open (the path may
 * change between the two), and read up to a size bound named in the error (procfs files claim
 * size 0 and are read to the bound at most). Every config, tokenizer, JSONL, image, answer list,
 * plan and kernel file goes through here.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { FILE_LIMITS, FileError, parseJson } from './file-limits.ts';

export { FILE_LIMITS, FileError } from './file-limits.ts';

function kindOf(st: {
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isDirectory(): boolean;
  isSocket(): boolean;
}): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** A descriptor of regular file `path` (`what` names it in errors), opened non-blocking and checked once open; the caller closes it. */
export function openRegular(path: string, what: string, maxBytes = Number.POSITIVE_INFINITY): number {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    throw new FileError(
      `${path}: cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  if (!st.isFile()) throw new FileError(`${path}: the ${what} is ${kindOf(st)}, not a regular file`);
  if (st.size > maxBytes)
    throw new FileError(`${path}: the ${what} is ${st.size} bytes, over the ${maxBytes}-byte limit for it`);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new FileError(
      `${path}: cannot open the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const now = fstatSync(fd);
  if (!now.isFile()) {
    closeSync(fd);
    throw new FileError(`${path}: the ${what} is ${kindOf(now)}, not a regular file`);
  }
  return fd;
}

/** The bytes of regular file `path` (`what` names it in errors), at most `maxBytes`. */
export function readRegular(path: string, what: string, maxBytes: number): Buffer {
  const fd = openRegular(path, what, maxBytes);
  try {
    const size = fstatSync(fd).size;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(Math.min(Math.max(size - total, 64 * 1024), maxBytes + 1 - total));
      if (buf.length === 0) break;
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
      total += n;
      if (total > maxBytes)
        throw new FileError(`${path}: the ${what} holds more than ${maxBytes} bytes, the limit for it`);
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** Regular file `path` in chunks of at most 4 MiB, each handed to `each` (at most `maxBytes` in all). */
export function readChunks(path: string, what: string, maxBytes: number, each: (chunk: Uint8Array) => void): void {
  const fd = openRegular(path, what, maxBytes);
  try {
    const chunk = Buffer.allocUnsafe(1 << 22);
    let total = 0;
    for (let n: number; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0; ) {
      total += n;
      if (total > maxBytes)
        throw new FileError(`${path}: the ${what} holds more than ${maxBytes} bytes, the limit for it`);
      each(chunk.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

/** A regular file's text (UTF-8). */
export function readText(path: string, what: string, maxBytes: number = FILE_LIMITS.text): string {
  return readRegular(path, what, maxBytes).toString('utf8');
}

/** A regular file's JSON value; bad JSON is an error naming the file. */
export function readJsonFile(path: string, what: string, maxBytes: number = FILE_LIMITS.json): unknown {
  return parseJson(readText(path, what, maxBytes), path);
}

/**
 * mkdir -p, one level at a time: node's recursive mkdirSync loops forever when a parent is a
 * read-only pseudo-filesystem (`--out /proc/x`); here the first level that cannot be made is an
 * error naming it.
 */
export function makeDirs(path: string): void {
  const abs = resolve(path);
  const parts = abs.split(sep).filter(Boolean);
  let at = abs.startsWith(sep) ? sep : '';
  for (const p of parts) {
    at = at ? join(at, p) : p;
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(at);
    } catch {
      st = undefined;
    }
    if (st) {
      if (!st.isDirectory()) throw new FileError(`${path}: ${at} is not a directory`);
      continue;
    }
    try {
      mkdirSync(at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new FileError(
          `${path}: cannot make ${at} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
    }
  }
}
