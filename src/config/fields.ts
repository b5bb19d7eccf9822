/**
 * The zod fields shared by the trainers' config files (LM configs src/lm/config.ts, score configs
 * training/config.ts): numbers with messages that name the bound ("must be ≥ 1", "expected an
 * integer"), and the export section.
 */
import { z } from 'zod';

/** An integer in [lo, hi]. */
export const int = (lo: number, hi: number) =>
  z.number({ invalid_type_error: 'expected an integer' }).int('expected an integer').min(lo, `must be ≥ ${lo}`).max(hi, `must be ≤ ${hi}`);

/** A finite number in [lo, hi], or (lo, hi] when `loOpen`. */
export const real = (lo: number, hi: number, loOpen = false) => {
  const base = z.number({ invalid_type_error: 'expected a number' }).finite('expected a finite number');
  return (loOpen ? base.gt(lo, `must be > ${lo}`) : base.min(lo, `must be ≥ ${lo}`)).max(hi, `must be ≤ ${hi}`);
};

/** The export section: `{ "dtype": "float32" | "float16" }`. */
export const exportSchema = z.object({ dtype: z.enum(['float32', 'float16']).default('float32') }).strict();
