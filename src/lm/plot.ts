/**
 * The loss curve of a language-model run (src/plot/lossCurve.ts): cross-entropy per token on a
 * linear axis, validation loss of the trained weights.
 */
import { lossCurveSpec as spec, type LossLog } from '../plot/lossCurve.js';
import type { VegaLiteSpec } from '../plot/render.js';

export function lossCurveSpec(log: LossLog, title: string): VegaLiteSpec {
  return spec(log, { title, yTitle: 'cross-entropy (nats/token)', valLabel: 'validation', yScale: 'linear' });
}
