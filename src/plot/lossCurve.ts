/**
 * The loss curve of a training run as a vega-lite spec (the LM trainer, src/lm/plot.ts, and the
 * score trainer, training/plot.ts): training loss of every update (thin line), its trailing mean,
 * and the validation loss at each evaluation (points + line), against the update step. Rendered to
 * SVG by src/plot/render.ts. Runs longer than MAX_SERIES_POINTS updates are thinned for drawing
 * (the loss log itself keeps every step).
 */
import type { VegaLiteSpec } from './render.js';

export interface TrainLogEntry {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
}
export interface ValLogEntry {
  step: number;
  loss: number;
}
/** The loss log of a run: training loss of every update, validation loss every eval_every updates. */
export interface LossLog {
  train: TrainLogEntry[];
  val: ValLogEntry[];
}

export interface LossCurveOptions {
  title: string;
  /** Title of the loss axis. */
  yTitle: string;
  /** Legend label of the validation series. */
  valLabel: string;
  /** 'log': log-scaled loss axis (losses clamped to ≥ 1e-12); 'linear': linear, not forced to include 0. */
  yScale: 'log' | 'linear';
  /** Draw the trailing mean even when its window is one point (it then repeats the training line). */
  alwaysMean?: boolean;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** Trailing mean over `w` points (a centred window would peek ahead). */
export function trailingMean(xs: number[], w: number): number[] {
  const out: number[] = [];
  let s = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i];
    if (i >= w) s -= xs[i - w];
    out.push(s / Math.min(i + 1, w));
  }
  return out;
}

/** Points drawn per training series at most: a long run is thinned so its SVG stays small. */
export const MAX_SERIES_POINTS = 2000;

/**
 * Indices of `ys` to draw so that at most ~`max` remain: all of them when few, else per bucket of
 * consecutive points the first, the smallest and the largest (in step order), so the band of the
 * per-step loss and its extremes survive the thinning.
 */
export function thinIndices(ys: number[], max: number): number[] {
  if (ys.length <= max) return ys.map((_, i) => i);
  const buckets = Math.max(1, Math.floor(max / 3));
  const size = Math.ceil(ys.length / buckets);
  const out: number[] = [];
  for (let b = 0; b < ys.length; b += size) {
    const end = Math.min(ys.length, b + size);
    let lo = b;
    let hi = b;
    for (let i = b; i < end; i++) {
      if (ys[i] < ys[lo]) lo = i;
      if (ys[i] > ys[hi]) hi = i;
    }
    out.push(...[...new Set([b, lo, hi])].sort((x, y) => x - y));
  }
  return out;
}

/** Vega-Lite spec of a training loss curve (train, trailing mean, validation). */
export function lossCurveSpec(log: LossLog, o: LossCurveOptions): VegaLiteSpec {
  const w = Math.max(1, Math.round(log.train.length / 50));
  const losses = log.train.map((e) => e.loss);
  const smooth = trailingMean(losses, w);
  const y0 = o.yScale === 'log' ? (x: number) => Math.max(x, 1e-12) : (x: number) => x;
  const mean = `train (mean of ${w})`;
  const withMean = w > 1 || o.alwaysMean === true;
  const keep = thinIndices(losses, MAX_SERIES_POINTS); // per-step series: bucket extremes
  const every = Math.max(1, Math.ceil(log.train.length / MAX_SERIES_POINTS)); // the mean is smooth: every k-th
  const meanIdx = log.train.map((_, i) => i).filter((i) => i % every === 0 || i === log.train.length - 1);
  const values = [
    ...keep.map((i) => ({ step: log.train[i].step, loss: y0(losses[i]), series: 'train (per step)' })),
    ...(withMean ? meanIdx.map((i) => ({ step: log.train[i].step, loss: y0(smooth[i]), series: mean })) : []),
    ...log.val.map((e) => ({ step: e.step, loss: y0(e.loss), series: o.valLabel })),
  ];
  const x = { field: 'step', type: 'quantitative', title: 'update step' };
  const y = { field: 'loss', type: 'quantitative', title: o.yTitle, scale: o.yScale === 'log' ? { type: 'log' } : { zero: false } };
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: withMean
      ? { domain: ['train (per step)', mean, o.valLabel], range: ['#aec7e8', '#1f77b4', '#d62728'] }
      : { domain: ['train (per step)', o.valLabel], range: ['#1f77b4', '#d62728'] },
  };
  return {
    $schema: SCHEMA,
    title: o.title,
    width: 560,
    height: 320,
    data: { values },
    layer: [
      { transform: [{ filter: `datum.series != '${o.valLabel}'` }], mark: { type: 'line', strokeWidth: 1.2 }, encoding: { x, y, color } },
      { transform: [{ filter: `datum.series == '${o.valLabel}'` }], mark: { type: 'line', point: true, strokeWidth: 2 }, encoding: { x, y, color } },
    ],
  } as unknown as VegaLiteSpec;
}
