// Shared-memory tiled matmul for GPUs: a 16 x 16 workgroup computes a 64 x 64 tile of C,
// 4 x 4 per thread, staging 64 x 16 slices of A and 16 x 64 slices of B in workgroup memory.
${BINDINGS}

var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<f32, 1024>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = ${M};
  let N = ${N};
  let K = ${K};
  let p = wid.z;
  let rowBase = wid.y * 64u;
  let colBase = wid.x * 64u;
  let tid = lid.y * 16u + lid.x;
${BATCH}
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    for (var e = 0u; e < 4u; e++) {
      let q = tid + e * 256u;
      {
        let ar = rowBase + q / 16u;
        let ak = k0 + q % 16u;
        let r = min(ar, M - 1u);
        let k = min(ak, K - 1u);
        As[q] = select(0.0, ${LOAD_A}, ar < M && ak < K);
      }
      {
        let bk = k0 + q / 64u;
        let bc = colBase + q % 64u;
        let c = min(bc, N - 1u);
        let k = min(bk, K - 1u);
        Bs[q] = select(0.0, ${LOAD_B}, bk < K && bc < N);
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var bv: array<f32, 4>;
      for (var j = 0u; j < 4u; j++) { bv[j] = Bs[kk * 64u + lid.x * 4u + j]; }
      for (var i = 0u; i < 4u; i++) {
        let av = As[(lid.y * 4u + i) * 16u + kk];
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = rowBase + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let c = colBase + lid.x * 4u + j;
      if (r < M && c < N) {
        let o = p * M * N + r * N + c;
${STORE}
      }
    }
  }
}
