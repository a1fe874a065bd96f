// A fused elementwise/layout group: one thread per output element; the body computes the
// element from the group's leaf buffers (index maps for broadcast/permute/slice/... inlined).
${BINDINGS}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * ${ROW};
  if (i >= ${N}) { return; }
${BODY}
  out[i] = ${RESULT};
}
