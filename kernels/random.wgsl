// Counter-based random numbers: the same PCG output permutation (O'Neill 2014) as the reference
// (src/compiler/ops/random.ts pcgHash, uniformAt), in u32, so GPU and reference draw the same
// bits. uniform_at is uniform in [0, 1) on a 2^-24 grid: exact in f32.

fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn uniform_at(seed: u32, salt: u32, i: u32) -> f32 {
  let h = pcg_hash(i ^ pcg_hash(seed + pcg_hash(salt)));
  return f32(h >> 8u) * (1.0 / 16777216.0);
}
