/** Timing a plan on the device: repeat its dispatches inside one submission and wait once. */
import type { Gpu } from './device.ts';
import type { Executor } from './executor.ts';
import { StepRecorder, queueIdle } from './step.ts';

/** Median milliseconds per plan execution over `rounds` submissions of `reps` executions each. */
export async function timePlan(gpu: Gpu, ex: Executor, reps = 3, rounds = 3): Promise<number> {
  const once = async () => {
    const step = new StepRecorder(gpu, 'timing');
    for (let r = 0; r < reps; r++) ex.record(step);
    const t0 = performance.now();
    step.submit();
    await queueIdle(gpu);
    return (performance.now() - t0) / reps;
  };
  await once(); // warm-up: pipeline first use
  const ts: number[] = [];
  for (let i = 0; i < rounds; i++) ts.push(await once());
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}
