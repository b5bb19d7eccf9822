/**
 * The loss curve of a language-model run as a vega-lite spec: training loss of every update
 * (thin line, plus its moving average) and validation loss at each evaluation (points + line),
 * against the update step. Rendered to SVG by src/plot/render.ts.
 */
import type { VegaLiteSpec } from '../plot/render.js';
import type { LossLog } from './checkpoint.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** Trailing mean over `w` points (a centred window would peek ahead). */
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

export function lossCurveSpec(log: LossLog, title: string): VegaLiteSpec {
  const w = Math.max(1, Math.round(log.train.length / 50));
  const smooth = trailingMean(log.train.map((e) => e.loss), w);
  const values = [
    ...log.train.map((e) => ({ step: e.step, loss: e.loss, series: 'train (per step)' })),
    ...(w > 1 ? log.train.map((e, i) => ({ step: e.step, loss: smooth[i], series: `train (mean of ${w})` })) : []),
    ...log.val.map((e) => ({ step: e.step, loss: e.loss, series: 'validation' })),
  ];
  const x = { field: 'step', type: 'quantitative', title: 'update step' };
  const y = { field: 'loss', type: 'quantitative', title: 'cross-entropy (nats/token)', scale: { zero: false } };
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: w > 1
      ? { domain: ['train (per step)', `train (mean of ${w})`, 'validation'], range: ['#aec7e8', '#1f77b4', '#d62728'] }
      : { domain: ['train (per step)', 'validation'], range: ['#1f77b4', '#d62728'] },
  };
  return {
    $schema: SCHEMA,
    title,
    width: 560,
    height: 320,
    data: { values },
    layer: [
      { transform: [{ filter: "datum.series != 'validation'" }], mark: { type: 'line', strokeWidth: 1.2 }, encoding: { x, y, color } },
      { transform: [{ filter: "datum.series == 'validation'" }], mark: { type: 'line', point: true, strokeWidth: 2 }, encoding: { x, y, color } },
    ],
  } as unknown as VegaLiteSpec;
}
