/*
 * The CPU's own ceiling on the cores lavapipe runs on, for bench/ceiling.ts: peak fp32 FMA
 * throughput (independent vector FMA chains in registers, one thread per core) and streaming copy
 * bandwidth (one big array to another). Built and run by bench/ceiling.ts:
 *   gcc -O3 -march=native -ffp-contract=fast -fopenmp bench/ceiling.c -o /tmp/ceiling && /tmp/ceiling
 * Prints one JSON line: {"threads", "fma_gflops", "copy_gbs"}.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 16 lanes: one AVX-512 register (two AVX2 ones where that is the widest). */
typedef float v16 __attribute__((vector_size(64)));
#define CHAINS 16

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* CHAINS independent a = a * m + c chains: enough in flight to cover the FMA latency. */
static float fma_loop(long iters, float seed) {
  v16 acc[CHAINS];
  v16 m, c;
  for (int l = 0; l < 16; l++) {
    m[l] = 0.9999f;
    c[l] = seed;
  }
  for (int i = 0; i < CHAINS; i++)
    for (int l = 0; l < 16; l++) acc[i][l] = seed * (float)(i + l);
  for (long it = 0; it < iters; it++)
    for (int i = 0; i < CHAINS; i++) acc[i] = acc[i] * m + c;
  float s = 0;
  for (int i = 0; i < CHAINS; i++)
    for (int l = 0; l < 16; l++) s += acc[i][l];
  return s;
}

int main(void) {
  int threads = omp_get_max_threads();
  const long iters = 20000000;
  double best_fma = 0;
  for (int round = 0; round < 3; round++) {
    float sink = 0;
    double t0 = now();
#pragma omp parallel reduction(+ : sink)
    sink += fma_loop(iters, 0.5f + omp_get_thread_num());
    double dt = now() - t0;
    double gflops = 2.0 * 16 * CHAINS * (double)iters * threads / dt / 1e9;
    if (gflops > best_fma) best_fma = gflops;
    if (sink == 12345.0f) printf("#");
  }
  /* Copy 256 MiB to another 256 MiB: bytes read plus bytes written, per second. */
  const size_t n = (256u << 20) / sizeof(float);
  float *a = aligned_alloc(64, n * sizeof(float)), *b = aligned_alloc(64, n * sizeof(float));
#pragma omp parallel for
  for (size_t i = 0; i < n; i++) a[i] = (float)i, b[i] = 0;
  double best_copy = 0;
  for (int round = 0; round < 5; round++) {
    double t0 = now();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) b[i] = a[i];
    double dt = now() - t0;
    double gbs = 2.0 * n * sizeof(float) / dt / 1e9;
    if (gbs > best_copy) best_copy = gbs;
  }
  if (b[n - 1] != a[n - 1]) return 1;
  printf("{\"threads\": %d, \"fma_gflops\": %.2f, \"copy_gbs\": %.2f}\n", threads, best_fma, best_copy);
  free(a);
  free(b);
  return 0;
}
