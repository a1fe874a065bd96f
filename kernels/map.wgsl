// A fused elementwise/layout group: each thread computes ${WIDTH} consecutive output elements
// from i; the body computes them from the group's leaf buffers (index maps for
// broadcast/permute/slice/... inlined, their divisions shared by the thread's elements).
${BINDINGS}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = (gid.x + gid.y * ${ROW}) * ${WIDTH}u;
  if (i >= ${N}) { return; }
${BODY}
}
