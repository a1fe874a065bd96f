// A long reduction: one workgroup per output element. Each of the ${WG} threads folds every
// ${WG}th reduced element (neighbouring threads read neighbouring elements), then the workgroup
// combines the partial results in a tree through workgroup memory. For few outputs over many
// elements, where a thread per output would run the whole reduction alone.
${BINDINGS}

var<workgroup> part: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  // o is the same for the whole workgroup, so this return keeps the barriers uniform.
  let o = wid.x + wid.y * ${ROW};
  if (o >= ${N}) { return; }
${PRE}
  var acc: f32 = ${INIT};
  for (var r = t; r < ${R}; r += ${WG}u) {
${BODY}
    acc = ${COMBINE};
  }
  part[t] = acc;
  workgroupBarrier();
  for (var s = ${WG}u / 2u; s > 0u; s = s / 2u) {
    if (t < s) {
      part[t] = ${COMBINE_PART};
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let acc = part[0];
    ${STORE}
  }
}
