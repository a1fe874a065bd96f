/**
 * Dawn's adapter-limit notices are hidden in library use (a plain script acquiring a device),
 * shown with the opt-out, and anything else written to stderr while they are hidden still
 * arrives: checked on a child process's real stderr (a pipe), since fd 2 is what is swapped.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');
const NOTICE = /artificially reduced/;

/**
 * Runs a script with its stderr on a file (as `2>log` does) or a pipe (as `| tee` does): a node
 * parent's 'pipe' is a socket, which cannot be reopened, and is left unfiltered.
 */
function run(body: string, env: Record<string, string> = {}, via: 'file' | 'pipe' = 'file') {
  const dir = mkdtempSync(join(tmpdir(), 'native-stderr-'));
  const file = join(dir, 'script.mts');
  writeFileSync(file, body.replaceAll('SRC', SRC));
  const log = join(dir, 'stderr.log');
  const cmd = `'${process.execPath}' --import tsx '${file}' ${via === 'file' ? `2>'${log}'` : `2>&1 >/dev/null | cat >'${log}'`}`;
  const r = spawnSync('sh', ['-c', cmd], {
    encoding: 'utf8',
    env: { ...process.env, PEFTGRAPH_DAWN_NOTICES: '', ...env },
  });
  return { status: r.status, stderr: readFileSync(log, 'utf8') };
}

describe("Dawn's native notices", () => {
  const acquire = (opts: string) => `
    import { acquireDevice } from 'SRC/runtime/device.ts';
    const gpu = await acquireDevice(${opts});
    console.error('adapter', gpu.adapter.info.vendor.length > 0);
    gpu.destroy();
  `;

  it('are hidden when a script acquires a device, and shown with dawnNotices or PEFTGRAPH_DAWN_NOTICES=1', () => {
    for (const via of ['file', 'pipe'] as const) {
      const quiet = run(acquire('{}'), {}, via);
      expect(quiet.status, quiet.stderr).toBe(0);
      expect(quiet.stderr, via).toBe('adapter true\n');
    }
    const shown = run(acquire('{ dawnNotices: true }'));
    expect(shown.stderr).toMatch(NOTICE);
    expect(run(acquire('{}'), { PEFTGRAPH_DAWN_NOTICES: '1' }).stderr).toMatch(NOTICE);
  });

  it('only the notices are dropped: other writes to fd 2 meanwhile arrive, in order, and stderr works after', () => {
    const r = run(`
      import { writeSync } from 'node:fs';
      import { withoutNativeNotices } from 'SRC/runtime/native-stderr.ts';
      console.error('before');
      const v = await withoutNativeNotices(async () => {
        writeSync(2, 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\\n');
        writeSync(2, 'Warning: something else\\n');
        console.error('during');
        return 7;
      });
      console.error('after', v);
      await withoutNativeNotices(async () => { throw new Error('thrown inside'); }).catch((e) => console.error('caught', e.message));
      process.stderr.write('stream after\\n');
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('before\nWarning: something else\nduring\nafter 7\ncaught thrown inside\nstream after\n');
  });
});
