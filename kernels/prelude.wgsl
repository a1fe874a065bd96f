// Math helpers every generated kernel may call. f32 throughout.

// tanh from exp(-2|x|): no overflow for large |x| (a sinh/cosh form gives inf/inf).
fn tanh_f32(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  let t = (1.0 - e) / (1.0 + e);
  return select(-t, t, x >= 0.0);
}

fn sigmoid_f32(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

// GELU, tanh form (as METHODS.md specifies).
fn gelu_f32(x: f32) -> f32 {
  return 0.5 * x * (1.0 + tanh_f32(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below f32 resolution near 1).
fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}

// (n / d, n % d) for n < 2^24, d >= 1, rcp = f32(1 / d): f32(n) is exact and the product is
// within 1 of n / d, so one correction each way makes it exact. A CPU runs this as a few vector
// ops where an integer division by a non-constant is a loop of scalar divisions.
fn divmod_u24(n: u32, d: u32, rcp: f32) -> vec2<u32> {
  let q0 = u32(f32(n) * rcp);
  let r0 = i32(n) - i32(q0 * d);
  let under = r0 < 0i;
  let q1 = select(q0, q0 - 1u, under);
  let r1 = select(r0, r0 + i32(d), under);
  let over = r1 >= i32(d);
  return vec2<u32>(select(q1, q1 + 1u, over), u32(select(r1, r1 - i32(d), over)));
}

// Element i of a bf16 tensor stored two to a u32 word (the word at i / 2): the low half for an
// even i, the high half for an odd one (little endian), widened exactly (bf16 is an f32's top half).
fn bf16_at(word: u32, i: u32) -> f32 {
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (i & 1u) == 1u));
}
