/**
 * Noise schedules β(t) on [0, T] for the spherical diffusion of BL Eq. 12 and its reverse (BL Eq. 14),
 * with σ²(t) = ∫₀ᵗ β(s) ds in closed form. Time convention: the forward process is Brownian
 * motion on S^{d−1} with generator ½β(t)Δ, so S_t | S_0 is the heat kernel at "time" σ²(t) and
 * E[S_t·S_0] = exp(−(d−1)σ²(t)/2).
 *   constant: β(t) = β_max
 *   linear:   β(t) = β_min + (β_max − β_min) t/T
 *   cosine:   β(t) = β_min + (β_max − β_min)(1 − cos(πt/T))/2
 */
export const SCHEDULE_KINDS = ['constant', 'linear', 'cosine'] as const;
/** One of {@link SCHEDULE_KINDS}. */
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

/** A noise schedule β(t) on [0, T] (BL Eq. 12): its kind, β_min, β_max and T. */
export interface NoiseSchedule {
  kind: ScheduleKind;
  betaMin: number;
  betaMax: number;
  /** End time T of the forward process. */
  T: number;
}

/** β(t). */
export function beta(s: NoiseSchedule, t: number): number {
  switch (s.kind) {
    case 'constant':
      return s.betaMax;
    case 'linear':
      return s.betaMin + ((s.betaMax - s.betaMin) * t) / s.T;
    case 'cosine':
      return s.betaMin + ((s.betaMax - s.betaMin) * (1 - Math.cos((Math.PI * t) / s.T))) / 2;
  }
}

/** σ²(t) = ∫₀ᵗ β(s) ds. */
export function sigma2(s: NoiseSchedule, t: number): number {
  switch (s.kind) {
    case 'constant':
      return s.betaMax * t;
    case 'linear':
      return s.betaMin * t + ((s.betaMax - s.betaMin) * t * t) / (2 * s.T);
    case 'cosine':
      return s.betaMin * t + ((s.betaMax - s.betaMin) / 2) * (t - (s.T / Math.PI) * Math.sin((Math.PI * t) / s.T));
  }
}
