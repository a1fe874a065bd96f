// A reduction with a fused prologue: one thread per output element loops over its reduced
// elements (no workgroup barriers: cheap on lavapipe, fine for the row lengths PEFT models have).
${BINDINGS}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x + gid.y * ${ROW};
  if (o >= ${N}) { return; }
${PRE}
  var acc: f32 = ${INIT};
  for (var r = 0u; r < ${R}; r++) {
${BODY}
    acc = ${COMBINE};
  }
  ${STORE}
}
