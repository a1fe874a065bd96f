/** Seconds since the last lap (or since the stopwatch started), for a benchmark's stage timings. */
export function stopwatch(): () => number {
  let t = performance.now();
  return () => {
    const s = (performance.now() - t) / 1000;
    t = performance.now();
    return s;
  };
}
