#!/usr/bin/env node
// An installed package runs its build (dist/). A source checkout (src/ present, no build to drift
// from the source) runs the TypeScript through tsx. Either way a user's .ts spec or data module
// gets a TS loader when it is loaded (src/cli/load.ts).
//
// Dawn's native code prints adapter-limit warnings ("maxDynamic...PerPipelineLayout artificially
// reduced ...", lavapipe) straight to fd 2, out of reach of JS. acquireDevice hides them where
// fd 2 can be reopened (src/runtime/native-stderr.ts: a terminal, a pipe, a file), but not when
// stderr is a socket, as a node parent's 'pipe' makes it. So the CLI runs as a child whose stderr
// passes through a filter that drops exactly those lines and forwards the rest as it comes (the
// progress bar included: the child is told whether the real stderr is a terminal).
// `--verbose` (e.g. `peftgraph doctor --verbose`) runs in this process and shows everything.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
if (process.env.PEFTGRAPH_CLI_CHILD === '1' || args.includes('--verbose')) await runCli();
else filtered();

async function runCli() {
  if (process.env.PEFTGRAPH_STDERR_TTY === '1') {
    process.stderr.isTTY = true;
    process.stderr.columns = Number(process.env.PEFTGRAPH_STDERR_COLUMNS) || 80;
  }
  const source = new URL('../src/cli/main.ts', import.meta.url);
  if (existsSync(source)) {
    const { register } = await import('tsx/esm/api');
    register();
    await import(source.href);
  } else {
    await import('../dist/cli/main.js');
  }
}

function filtered() {
  const noise = /^Warning: maxDynamic\w+PerPipelineLayout artificially reduced from \d+ to \d+[^\n]*\n/gm;
  const env = { ...process.env, PEFTGRAPH_CLI_CHILD: '1', PEFTGRAPH_STDERR_TTY: process.stderr.isTTY ? '1' : '', PEFTGRAPH_STDERR_COLUMNS: String(process.stderr.columns ?? '') };
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], { stdio: ['inherit', 'inherit', 'pipe'], env });
  const utf8 = new StringDecoder('utf8');
  child.stderr.on('data', (chunk) => {
    const text = utf8.write(chunk).replace(noise, '');
    if (text) process.stderr.write(text);
  });
  // Ctrl-C reaches the child too (same process group): wait for it to finish; forward a kill.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  // 'close' comes after the child's stderr has ended, so nothing it wrote is lost.
  child.on('close', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exitCode = code ?? 1;
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
  });
}
