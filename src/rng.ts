/**
 * Seeded randomness. Every random draw in spinbath flows from a generator made here from an
 * explicit seed (seedrandom's alea), never from Math.random or tf.random* without a seed.
 */
import seedrandom from 'seedrandom';

/** A seeded random stream: uniform, normal, integer draws, and named forks. */
export interface Rng {
  /** Uniform on [0, 1). */
  uniform(): number;
  /** Standard normal (Box–Muller, both values used). */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** A child generator with its own independent stream, derived from this one's seed and a label. */
  fork(label: string): Rng;
  readonly seed: string;
}

/** A random stream determined by `seed` (every random draw in spinbath flows from one). */
export function makeRng(seed: number | string): Rng {
  const seedStr = String(seed);
  const prng = seedrandom.alea(seedStr);
  let spare: number | null = null;
  const rng: Rng = {
    seed: seedStr,
    uniform: () => prng(),
    normal: () => {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      let u = 0;
      while (u === 0) u = prng();
      const v = prng();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    int: (n: number) => Math.floor(prng() * n),
    fork: (label: string) => makeRng(`${seedStr}/${label}`),
  };
  return rng;
}

/** A Float32Array of `n` standard normal draws scaled by `std`. */
export function normalArray(rng: Rng, n: number, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}

/** A Float32Array of `n` uniform draws on [lo, hi). */
export function uniformArray(rng: Rng, n: number, lo = 0, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng.uniform();
  return out;
}
