// Register-blocked matmul, no shared memory and no barriers: each thread accumulates a
// TM x TN block of C in registers, streaming A and B from global memory. On lavapipe (a CPU)
// barriers are expensive and caches do the tiling, so this family is the fast one there.
// The first lines map the thread to its tile (row0, col0) of batch entry p: a 2D grid of tiles per
// entry ('reg'), or every entry's tiles numbered in one line ('packed', for small blocks).
${BINDINGS}

@compute @workgroup_size(${WG_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = ${M};
  let N = ${N};
  let K = ${K};
${ORIGIN}
${BATCH}
  var acc: array<array<f32, ${TN}>, ${TM}>;
  for (var k = 0u; k < K; k++) {
    var bv: array<f32, ${TN}>;
    for (var j = 0u; j < ${TN}u; j++) {
      let c = min(col0 + j, N - 1u);
      bv[j] = ${LOAD_B};
    }
    for (var i = 0u; i < ${TM}u; i++) {
      let r = min(row0 + i, M - 1u);
      let av = ${LOAD_A};
      for (var j = 0u; j < ${TN}u; j++) {
        acc[i][j] = fma(av, bv[j], acc[i][j]);
      }
    }
  }
  // The tile's sums, flattened; then one loop over the tile's valid outputs stores them (through
  // the fused epilogue, if any). Stored from the unrolled tile loops, an epilogue was compiled
  // TM x TN times (llvmpipe: 2.4-3.0 s for one shader instead of 0.2 s), and loops bounded by
  // min(TM, ...) were unrolled all the same; a loop over their product is not.
  var res: array<f32, ${TILE}>;
  for (var i = 0u; i < ${TM}u; i++) {
    for (var j = 0u; j < ${TN}u; j++) {
      res[i * ${TN}u + j] = acc[i][j];
    }
  }
  let tn = min(${TN}u, N - col0);
  let count = min(${TM}u, M - row0) * tn;
${STORE_LOOP}
}
