/** Direct Float64 linear algebra for writing METHODS.md formulas in tests. */
export type Mat = number[][];

export const mat = (rows: number, cols: number, data: ArrayLike<number>, offset = 0): Mat =>
  Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => data[offset + i * cols + j]));
export const mm = (a: Mat, b: Mat): Mat => a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
export const add = (a: Mat, b: Mat | number[]): Mat =>
  a.map((r, i) => r.map((v, j) => v + (Array.isArray(b[0]) ? (b as Mat)[i][j] : (b as number[])[j])));
export const scale = (a: Mat, s: number): Mat => a.map((r) => r.map((v) => v * s));
export const map = (a: Mat, f: (x: number) => number): Mat => a.map((r) => r.map(f));
export const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
export function kron(a: Mat, b: Mat): Mat {
  const [p, q] = [b.length, b[0].length];
  return Array.from({ length: a.length * p }, (_, i) =>
    Array.from({ length: a[0].length * q }, (_, j) => a[Math.floor(i / p)][Math.floor(j / q)] * b[i % p][j % q]),
  );
}
export const flat = (a: Mat): number[] => a.flat();
/** W = sum_i S_i kron (T_i U_i) from flat S [n,n,n], T [n,p,k], U [n,k,q]. */
export function phmDense(
  S: ArrayLike<number>,
  T: ArrayLike<number>,
  U: ArrayLike<number>,
  n: number,
  p: number,
  k: number,
  q: number,
): Mat {
  let W: Mat | null = null;
  for (let i = 0; i < n; i++) {
    const term = kron(mat(n, n, S, i * n * n), mm(mat(p, k, T, i * p * k), mat(k, q, U, i * k * q)));
    W = W ? add(W, term) : term;
  }
  return W!;
}
export const mean = (xs: ArrayLike<number>, experts: number): number[] => {
  const n = xs.length / experts;
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let e = 0; e < experts; e++) s += xs[e * n + i];
    return s / experts;
  });
};
