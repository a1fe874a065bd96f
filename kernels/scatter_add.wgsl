// scatter_add without atomics (WGSL has no f32 atomics): each output element scans the indices
// and sums the matching update rows. Deterministic; O(V * N * row), fine for PEFT's frozen embeddings.
${BINDINGS}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x + gid.y * ${ROW};
  if (o >= ${N}) { return; }
  let r = i32(o / ${ROWLEN});
  let j = o % ${ROWLEN};
  var acc = 0.0;
  for (var k = 0u; k < ${NIDX}; k++) {
    if (i32(${IDX_K}) == r) {
      let i = k * ${ROWLEN} + j;
${BODY}
      acc += ${VALUE};
    }
  }
  ${STORE}
}
