/** Timing a plan on the device: repeat its dispatches inside one submission and wait once. */
import type { Gpu } from './device.ts';
import type { Executor } from './executor.ts';
import { StepRecorder, queueIdle } from './recorder.ts';

/** The middle value (the upper one of an even count): what every benchmark reports. */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** Milliseconds per repetition of `reps` repetitions of `record` (dispatches) in one submission. */
export async function timeRecorded(gpu: Gpu, record: (step: StepRecorder) => void, reps = 1): Promise<number> {
  const step = new StepRecorder(gpu, 'timing');
  for (let r = 0; r < reps; r++) record(step);
  const t0 = performance.now();
  step.submit();
  await queueIdle(gpu);
  return (performance.now() - t0) / reps;
}

/**
 * How many repetitions of `record` in one submission last at least `minMs`: a wait polls at about
 * 1 kHz (gpu-wait.ts), so one submission's time is known to about a millisecond. A 50 us kernel
 * timed 5 times in one submission reads 0.23 or 0.46 ms a repetition, never 0.05: every timing
 * of a small kernel takes its repetitions from here.
 */
export async function repsFor(
  gpu: Gpu,
  record: (step: StepRecorder) => void,
  minMs = 40,
  maxReps = 4000,
): Promise<number> {
  let reps = 1;
  for (;;) {
    const total = (await timeRecorded(gpu, record, reps)) * reps;
    if (total >= minMs || reps >= maxReps) return reps;
    reps = Math.min(maxReps, reps * Math.max(2, Math.ceil(minMs / Math.max(total, 1))));
  }
}

/** Milliseconds per execution of `reps` executions of a plan recorded into one submission. */
export function timeRun(gpu: Gpu, ex: Pick<Executor, 'record'>, reps = 1): Promise<number> {
  return timeRecorded(gpu, (s) => ex.record(s), reps);
}

/** Median milliseconds per plan execution over `rounds` submissions of `reps` executions each. */
export async function timePlan(gpu: Gpu, ex: Pick<Executor, 'record'>, reps = 3, rounds = 3): Promise<number> {
  await timeRun(gpu, ex, reps); // warm-up: pipeline first use
  const ts: number[] = [];
  for (let i = 0; i < rounds; i++) ts.push(await timeRun(gpu, ex, reps));
  return median(ts);
}
