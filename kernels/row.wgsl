// A row kernel: softmax, layer norm, log-softmax and their gradients as ONE kernel. One thread
// per row runs the row's reductions as loops (each may use the ones before it), then writes
// the row. No workgroup barriers.
${BINDINGS}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x + gid.y * ${ROW};
  if (row >= ${ROWS}) { return; }
${REDUCTIONS}
  for (var j = 0u; j < ${C}; j++) {
    let i = row * ${C} + j;
${BODY}
    ${RESULT}
  }
}
