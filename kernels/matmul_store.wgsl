// The store loop of the register-blocked matmuls: the valid outputs of a thread's tile, `count`
// of them in rows of `tn` from (row0, col0), each read from the flat tile `res` (rows of
// ${RES_ROW}) as `a` and stored through the epilogue, if any.
  var r = row0;
  var c = col0;
  for (var t = 0u; t < count; t++) {
    let a = res[(r - row0) * ${RES_ROW}u + c - col0];
    let o = p * M * N + r * N + c;
${STORE}
    c++;
    if (c == col0 + tn) {
      c = col0;
      r++;
    }
  }
