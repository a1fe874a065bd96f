/**
 * Dawn's native code prints adapter-limit notices ("Warning: maxDynamicUniformBuffersPerPipelineLayout
 * artificially reduced from 1000000 to 16 ...", on lavapipe and NVIDIA alike) straight to fd 2
 * while it enumerates adapters, out of reach of JS. To keep them out of a user's script and the
 * CLI alike, fd 2 is pointed at a temp file for that call only; afterwards the real stderr is
 * reopened (Linux's /proc/self/fd) and whatever else was written meanwhile is forwarded, the
 * notices dropped. Where that cannot be done (not Linux, stderr closed or a socket) nothing is
 * filtered. Node has no dup2: the swap relies on open() taking the lowest free descriptor.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The notices, exactly: anything else Dawn prints is passed through. */
export const DAWN_NOTICE = /^Warning: maxDynamic\w+PerPipelineLayout artificially reduced from \d+ to \d+[^\n]*\n?/gm;

let seq = 0;

/** Runs `call` with native writes to fd 2 captured, then forwards them without the lines `drop` matches. */
export async function withoutNativeNotices<T>(call: () => Promise<T>, drop: RegExp = DAWN_NOTICE): Promise<T> {
  if (process.platform !== 'linux') return call();
  let saved: number;
  try {
    saved = openSync('/proc/self/fd/2', 'a');
  } catch {
    return call(); // stderr closed, or a socket: leave it alone
  }
  const file = join(tmpdir(), `peftgraph-stderr-${process.pid}-${seq++}`);
  closeSync(2);
  const capture = openSync(file, 'w+');
  if (capture !== 2) {
    // A libuv thread opened a file in the microseconds between: fd 2 is its now, and cannot be
    // taken back without dup2. Not seen in practice; say so rather than write into its file.
    closeSync(capture);
    rmSync(file, { force: true });
    writeSync(
      saved,
      'peftgraph: lost stderr while hiding Dawn notices (a thread took fd 2); set PEFTGRAPH_DAWN_NOTICES=1 to skip hiding them\n',
    );
    return call();
  }
  try {
    return await call();
  } finally {
    restore(saved);
    const text = readFileSync(file, 'utf8');
    rmSync(file, { force: true });
    const rest = text.replace(drop, '');
    if (rest) writeSync(2, rest);
  }
}

/** fd 2 back on the stderr `saved` reopened. */
function restore(saved: number): void {
  closeSync(2);
  openSync(`/proc/self/fd/${saved}`, 'a');
  closeSync(saved);
}
