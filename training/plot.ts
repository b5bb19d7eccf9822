/**
 * The loss curve of a score-training run (residual DSM loss of BL Eq. 14's network, σ²-weighted by
 * default; src/plot/lossCurve.ts): log-scaled loss axis, validation loss of the EMA weights, the
 * trailing mean always drawn.
 */
import { lossCurveSpec, type LossLog } from '../src/plot/lossCurve.js';
import type { VegaLiteSpec } from '../src/plot/render.js';

export function scoreLossCurveSpec(log: LossLog, title: string, yTitle: string): VegaLiteSpec {
  return lossCurveSpec(log, { title, yTitle, valLabel: 'validation (EMA)', yScale: 'log', alwaysMean: true });
}
