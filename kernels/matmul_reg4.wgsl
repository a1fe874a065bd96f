// Register-blocked matmul with vec4 loads of B and vec4 accumulators: each thread owns a
// TM x (4 * TN4) block of C. Needs N % 4 == 0 and B not transposed (B is bound as vec4s).
${BINDINGS}

@compute @workgroup_size(${WGX}, ${WGY})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = ${M};
  let N = ${N};
  let K = ${K};
  let N4 = ${N4};
  let row0 = gid.y * ${TM}u;
  let col40 = gid.x * ${TN4}u;
  let p = gid.z;
  if (row0 >= M || col40 >= N4) { return; }
${BATCH}
  let bOff4 = bOff / 4u;
  var acc: array<array<vec4<f32>, ${TN4}>, ${TM}>;
  for (var k = 0u; k < K; k++) {
    var bv: array<vec4<f32>, ${TN4}>;
    for (var j = 0u; j < ${TN4}u; j++) {
      bv[j] = ${B4}[bOff4 + k * N4 + min(col40 + j, N4 - 1u)];
    }
    for (var i = 0u; i < ${TM}u; i++) {
      let r = min(row0 + i, M - 1u);
      let av = vec4<f32>(${LOAD_A});
      for (var j = 0u; j < ${TN4}u; j++) {
        acc[i][j] = fma(av, bv[j], acc[i][j]);
      }
    }
  }
  // Stored as matmul_reg.wgsl stores (one loop over the valid outputs), a vec4 being 4 columns.
  var res: array<f32, ${TILE}>;
  for (var i = 0u; i < ${TM}u; i++) {
    for (var j = 0u; j < ${TN4}u; j++) {
      for (var e = 0u; e < 4u; e++) {
        res[(i * ${TN4}u + j) * 4u + e] = acc[i][j][e];
      }
    }
  }
  let col0 = col40 * 4u;
  let tn = min(${TN4}u, N4 - col40) * 4u;
  let count = min(${TM}u, M - row0) * tn;
${STORE_LOOP}
}
