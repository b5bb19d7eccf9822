/** Central finite difference ∂f/∂x_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h, perturbing x in place and restoring it. */
export function centralDiff(x: { [i: number]: number }, i: number, h: number, f: () => number): number {
  const orig = x[i];
  x[i] = orig + h;
  const fp = f();
  x[i] = orig - h;
  const fm = f();
  x[i] = orig;
  return (fp - fm) / (2 * h);
}
