/**
 * The loss curve of a score-training run (residual DSM loss of Eq. 14's network, σ²-weighted by
 * default) as a vega-lite spec: training loss per update (thin), its trailing mean, and the
 * validation loss of the EMA weights (points), against the update step, log-scaled loss axis.
 * Rendered by src/plot/render.ts.
 */
import type { VegaLiteSpec } from '../src/plot/render.js';
import type { LossLog } from './checkpoint.js';

function trailingMean(xs: number[], w: number): number[] {
  const out: number[] = [];
  let s = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i];
    if (i >= w) s -= xs[i - w];
    out.push(s / Math.min(i + 1, w));
  }
  return out;
}

export function scoreLossCurveSpec(log: LossLog, title: string, yTitle: string): VegaLiteSpec {
  const w = Math.max(1, Math.round(log.train.length / 50));
  const smooth = trailingMean(log.train.map((e) => e.loss), w);
  const positive = (x: number) => Math.max(x, 1e-12);
  const mean = `train (mean of ${w})`;
  const values = [
    ...log.train.map((e) => ({ step: e.step, loss: positive(e.loss), series: 'train (per step)' })),
    ...log.train.map((e, i) => ({ step: e.step, loss: positive(smooth[i]), series: mean })),
    ...log.val.map((e) => ({ step: e.step, loss: positive(e.loss), series: 'validation (EMA)' })),
  ];
  const x = { field: 'step', type: 'quantitative', title: 'update step' };
  const y = { field: 'loss', type: 'quantitative', title: yTitle, scale: { type: 'log' } };
  const color = {
    field: 'series', type: 'nominal', title: null,
    scale: { domain: ['train (per step)', mean, 'validation (EMA)'], range: ['#aec7e8', '#1f77b4', '#d62728'] },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 560,
    height: 320,
    data: { values },
    layer: [
      { transform: [{ filter: "datum.series != 'validation (EMA)'" }], mark: { type: 'line', strokeWidth: 1.2 }, encoding: { x, y, color } },
      { transform: [{ filter: "datum.series == 'validation (EMA)'" }], mark: { type: 'line', point: true, strokeWidth: 2 }, encoding: { x, y, color } },
    ],
  } as unknown as VegaLiteSpec;
}
