/**
 * Awaiting GPU work without stealing a core from the GPU.
 *
 * Dawn's node bindings settle pending async calls (mapAsync, onSubmittedWorkDone) by
 * re-arming `globalThis.setImmediate` until they resolve; they look the global up on every
 * re-arm. That is a busy loop on the main thread. On lavapipe the "GPU" is the CPU's other
 * threads, so on a 2-core machine the spin takes half the machine from the kernels
 * (bench/await-strategy.ts measures the cost). While peftgraph waits on GPU work it swaps in
 * a timer-backed setImmediate, which turns the spin into ~1 kHz polling, and restores the
 * original once no wait is outstanding.
 */

export type WaitMode = 'timer' | 'spin';

// A browser has no process (and no Dawn polling loop): there the waits are plain awaits.
let mode: WaitMode = globalThis.process?.env?.PEFTGRAPH_GPU_WAIT === 'spin' ? 'spin' : 'timer';
let depth = 0;
let original: typeof globalThis.setImmediate | undefined;

/** Select how GPU waits poll: 'timer' (default) or 'spin' (Dawn's own setImmediate loop). */
export function setWaitMode(m: WaitMode): void {
  if (depth > 0) throw new Error('setWaitMode: cannot change the GPU wait mode while a GPU wait is pending');
  mode = m;
}

function timerImmediate(fn: (...a: unknown[]) => void, ...args: unknown[]): unknown {
  return setTimeout(fn, 0, ...args);
}

/**
 * Starts a Dawn async call with the polling shim installed, and awaits it.
 * The shim must be in place when the call starts, since Dawn schedules its first poll then.
 */
export async function gpuWait<T>(start: () => Promise<T>): Promise<T> {
  if (mode === 'spin' || typeof globalThis.setImmediate !== 'function') return start();
  if (depth++ === 0) {
    original = globalThis.setImmediate;
    (globalThis as { setImmediate: unknown }).setImmediate = timerImmediate;
  }
  try {
    return await start();
  } finally {
    if (--depth === 0 && original) {
      globalThis.setImmediate = original;
      original = undefined;
    }
  }
}
