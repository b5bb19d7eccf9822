/** The loss-curve spec (src/plot/lossCurve.ts): trailing mean, thinning of long runs. */
import { describe, expect, it } from 'vitest';
import { lossCurveSpec, MAX_SERIES_POINTS, thinIndices, trailingMean } from '../../src/plot/lossCurve.js';

describe('loss curve', () => {
  it('trailingMean is the mean of the last w points (fewer at the start)', () => {
    expect(trailingMean([1, 2, 3, 4, 5], 2)).toEqual([1, 1.5, 2.5, 3.5, 4.5]);
    expect(trailingMean([4, 2], 5)).toEqual([4, 3]);
  });

  it('thinIndices keeps everything when short, and each bucket’s first, min and max when long', () => {
    expect(thinIndices([3, 1, 2], 10)).toEqual([0, 1, 2]);
    const ys = Array.from({ length: 10_000 }, (_, i) => Math.sin(i / 37) + (i === 4321 ? 9 : 0) - (i === 777 ? 9 : 0));
    const keep = thinIndices(ys, 600);
    expect(keep.length).toBeLessThanOrEqual(600);
    expect(keep).toContain(4321); // the global max survives
    expect(keep).toContain(777); // the global min survives
    expect(keep.every((v, i) => i === 0 || v > keep[i - 1])).toBe(true); // strictly increasing
  });

  it('a 12,000-step log draws at most ~2·MAX_SERIES_POINTS training points plus every validation point', () => {
    const train = Array.from({ length: 12_000 }, (_, i) => ({ step: i + 1, loss: 1 / (i + 1), lr: 1e-3, grad_norm: 1 }));
    const val = Array.from({ length: 13 }, (_, i) => ({ step: i * 1000, loss: 0.3 }));
    const spec = lossCurveSpec({ train, val }, { title: 't', yTitle: 'y', valLabel: 'val', yScale: 'log', alwaysMean: true }) as unknown as {
      data: { values: { series: string }[] };
    };
    const vs = spec.data.values;
    expect(vs.filter((v) => v.series === 'val')).toHaveLength(13);
    expect(vs.filter((v) => v.series === 'train (per step)').length).toBeLessThanOrEqual(MAX_SERIES_POINTS);
    expect(vs.filter((v) => v.series.startsWith('train (mean')).length).toBeLessThanOrEqual(MAX_SERIES_POINTS + 1);
  });
});
