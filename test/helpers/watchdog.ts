/**
 * Hang watchdog for test workers (a vitest setup file).
 *
 * vitest's test timeout runs on the worker's event loop, so a test stuck inside a native call
 * (a Dawn or lavapipe wait that never returns) blocks that timeout too, and the whole run hangs
 * until CI kills it with no word of where. A worker thread watches the main thread's heartbeat;
 * after PEFTGRAPH_TEST_HANG_S seconds of silence it writes the stuck test's name and native
 * stacks (the main thread's, then every thread's, via gdb when present) to stderr and to
 * PEFTGRAPH_TEST_REPORT_DIR, then kills the process, which vitest reports as a failed file.
 */
import { Worker } from 'node:worker_threads';
import { beforeEach } from 'vitest';

const HANG_S = Number(process.env.PEFTGRAPH_TEST_HANG_S ?? 300);

// Plain JS run by the worker thread. Its process.stderr goes through the (blocked) main thread,
// so it writes with fs.writeSync on fd 2, and kills the process by signal: process.exit() in a
// worker thread would only end the thread.
const WATCHER = `
const { parentPort, workerData } = require('node:worker_threads');
const { spawnSync } = require('node:child_process');
const { writeSync, mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
let last = Date.now();
let current = '(no test started yet)';
parentPort.on('message', (m) => { last = Date.now(); if (m) current = m; });
setInterval(() => {
  const silent = (Date.now() - last) / 1000;
  if (silent < workerData.hangS) return;
  const pid = process.pid;
  let report = '[watchdog] pid ' + pid + ': the main thread has not run for ' + silent.toFixed(0) +
    ' s, inside: ' + current + '\\n';
  const gdb = spawnSync('gdb', ['-p', String(pid), '-batch', '-ex', 'thread 1', '-ex', 'bt 40', '-ex', 'thread apply all bt 12'], { encoding: 'utf8', timeout: 120000 });
  report += gdb.error ? '(no native stacks: ' + gdb.error.message + ')\\n' : gdb.stdout + gdb.stderr;
  writeSync(2, report);
  if (workerData.dir) {
    try { mkdirSync(workerData.dir, { recursive: true }); writeFileSync(join(workerData.dir, 'hang-' + pid + '.txt'), report); } catch {}
  }
  process.kill(pid, 'SIGKILL');
}, 5000);
`;

const key = Symbol.for('peftgraph.test.watchdog');
const g = globalThis as { [key]?: Worker };
if (HANG_S > 0 && !g[key]) {
  const w = new Worker(WATCHER, {
    eval: true,
    workerData: { hangS: HANG_S, dir: process.env.PEFTGRAPH_TEST_REPORT_DIR },
  });
  w.unref();
  g[key] = w;
  setInterval(() => w.postMessage(null), 1000).unref();
}

beforeEach((ctx) => {
  g[key]?.postMessage(`${ctx.task.file?.name ?? '?'} > ${ctx.task.name}`);
});
