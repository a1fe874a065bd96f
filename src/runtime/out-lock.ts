/**
 * One writer per output directory. A run takes `<dir>/.peftgraph.lock` (created exclusively,
 * holding its pid) for as long as it writes there: a second run into the same directory is
 * refused while the first lives, instead of both reporting success over interleaved files. A lock
 * whose process has died (a killed run) is taken over. Within one process the lock is re-entrant
 * (the CLI holds it around train(), which takes it too).
 */
import { openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../user-error.ts';

export class LockError extends UserError {
  override name = 'LockError';
}

const LOCK = '.peftgraph.lock';
const held = new Map<string, number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Locks `dir` (which must exist) for this process; returns the release. */
export function lockDir(dir: string): () => void {
  const path = join(dir, LOCK);
  const count = held.get(path) ?? 0;
  const release = () => {
    const n = (held.get(path) ?? 1) - 1;
    if (n > 0) return void held.set(path, n);
    held.delete(path);
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  };
  if (count > 0) {
    held.set(path, count + 1);
    return release;
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, started: new Date().toISOString() }));
      closeSync(fd);
      held.set(path, 1);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new LockError(
          `${dir}: cannot lock the output directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
    }
    let owner: { pid?: number; started?: string } = {};
    try {
      owner = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      /* half-written by a run killed at that moment: stale */
    }
    if (typeof owner.pid === 'number' && alive(owner.pid))
      throw new LockError(
        `${dir}: another peftgraph run (pid ${owner.pid}, since ${owner.started ?? '?'}) is writing there; wait for it, or choose another --out`,
      );
    try {
      unlinkSync(path); // the run that held it is gone
    } catch {
      /* another process took it over first: the retry says so */
    }
  }
  throw new LockError(`${dir}: another run took the output directory's lock`);
}
