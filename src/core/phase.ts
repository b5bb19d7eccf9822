/**
 * The phase boundary of next-token selection (Huo & Johnson 2025, Fig. 3): a bad token x_bad is
 * emitted when 𝒫(x_bad) > max_{x ∈ U_good} 𝒫(x), so the boundary is the hyperplane
 * {x : n·x = c} with normal n = N W_V and offset c = the best good score.
 * Host arithmetic on plain arrays: these are per-prompt geometric summaries.
 */

export interface PhaseBoundary {
  /** Normal n = N W_V of the hyperplane. */
  normal: number[];
  /** Offset c = max over good tokens of n·x. */
  offset: number;
  /** Index (within the good set given) of the best good token. */
  bestGood: number;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** Boundary through the best-scoring good token. `normal` = N W_V; `good` = the good tokens' spins. */
export function phaseBoundary(normal: ArrayLike<number>, good: ArrayLike<number>[]): PhaseBoundary {
  if (good.length === 0) throw new RangeError('phaseBoundary needs at least one good token');
  let best = 0;
  let c = -Infinity;
  good.forEach((g, i) => {
    const s = dot(normal, g);
    if (s > c) {
      c = s;
      best = i;
    }
  });
  return { normal: Array.from(normal), offset: c, bestGood: best };
}

/** Signed distance of x from the boundary, (n·x − c)/|n|: positive on the side where x beats every good token. */
export function signedDistance(b: PhaseBoundary, x: ArrayLike<number>): number {
  return (dot(b.normal, x) - b.offset) / Math.sqrt(dot(b.normal, b.normal));
}

/** Which side of the boundary x lies on: 'bad' where it would be chosen over every good token. */
export function boundarySide(b: PhaseBoundary, x: ArrayLike<number>): 'bad' | 'good' {
  return signedDistance(b, x) > 0 ? 'bad' : 'good';
}

/**
 * The boundary inside the 2-D slice {p0 + s·u + t·v}: the line a·s + b·t = c' with a = n·u,
 * b = n·v, c' = c − n·p0. Points with a·s + b·t > c' lie on the bad side.
 */
export interface BoundaryLine {
  a: number;
  b: number;
  c: number;
}

/** The phase boundary's intersection with the 2-D slice p0 + a·u + b·v, as a line in (a, b) coordinates (HJ Fig. 3). */
export function boundaryLine2D(bd: PhaseBoundary, p0: ArrayLike<number>, u: ArrayLike<number>, v: ArrayLike<number>): BoundaryLine {
  return { a: dot(bd.normal, u), b: dot(bd.normal, v), c: bd.offset - dot(bd.normal, p0) };
}

/** Clip a boundary line to the box [s0, s1] × [t0, t1]: the segment's end points, or null if it misses. */
export function clipLine(line: BoundaryLine, s0: number, s1: number, t0: number, t1: number): [number, number][] | null {
  const pts: [number, number][] = [];
  const eps = 1e-12;
  if (Math.abs(line.b) > eps) {
    for (const s of [s0, s1]) {
      const t = (line.c - line.a * s) / line.b;
      if (t >= t0 - eps && t <= t1 + eps) pts.push([s, t]);
    }
  }
  if (Math.abs(line.a) > eps) {
    for (const t of [t0, t1]) {
      const s = (line.c - line.b * t) / line.a;
      if (s >= s0 - eps && s <= s1 + eps) pts.push([s, t]);
    }
  }
  const uniq: [number, number][] = [];
  for (const p of pts) if (!uniq.some((q) => Math.abs(q[0] - p[0]) < 1e-9 && Math.abs(q[1] - p[1]) < 1e-9)) uniq.push(p);
  return uniq.length >= 2 ? [uniq[0], uniq[uniq.length - 1]] : null;
}
