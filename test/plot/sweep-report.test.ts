/** Sweep plots (issue 13 point 8): log axes where a metric spans decades, legends that fit, a colour per setting. */
import { describe, expect, it } from 'vitest';
import { runLabel, type GuidedParams } from '../../sampling/sweep-config.js';
import { metricsAgainstSpec, qualityDiversitySpec, spansDecades } from '../../sampling/sweep-report.js';
import type { ResultLine } from '../../sampling/sweep.js';
import { renderSvg } from '../../src/plot/render.js';

const guided = (eta: number, score: string, perplexity: number): ResultLine => {
  const params: GuidedParams = {
    kind: 'guided',
    fieldSource: 'final',
    score,
    schedule: 'default',
    steps: 50,
    lambda: 'off',
    eta,
    gamma: 1,
    integrator: 'heun',
    readout: 'nearest',
    readoutTemperature: null,
    seed: 0,
  };
  const metrics = { perplexity, entropy_bits: 3, distinct_1: 0.5, distinct_2: 0.6 + eta / 10, distinct_3: 0.9, repetition_4: 0, loop_rate: 0, zipf: 1 };
  return { runId: `${eta}${score}`, index: 0, label: runLabel(params), params, setup: {} as ResultLine['setup'], generations: [], metrics };
};

describe('sweep report plots', () => {
  const lines = [guided(0, 'none', 90_000), guided(1, 'none', 1300), guided(2, 'none', 45), guided(1, 'runs/score-A', 60)];

  it('spansDecades: a ratio ≥ 10 of positive values', () => {
    expect(spansDecades([45, 1300, 90_000])).toBe(true);
    expect(spansDecades([0.5, 0.9])).toBe(false);
    expect(spansDecades([0, 100])).toBe(false);
  });

  it('metrics against η: perplexity on a log axis, bounded metrics linear, legends wide', async () => {
    const spec = metricsAgainstSpec(lines, 'eta') as unknown as {
      concat: { title: { text: string }; encoding: { y: { scale: { type?: string } }; color: { legend: { labelLimit: number } } } }[];
    };
    const ppl = spec.concat.find((p) => p.title.text.startsWith('perplexity'))!;
    expect(ppl.encoding.y.scale.type).toBe('log');
    const d2 = spec.concat.find((p) => p.title.text.startsWith('distinct_2'))!;
    expect(d2.encoding.y.scale.type).toBeUndefined();
    expect(ppl.encoding.color.legend.labelLimit).toBeGreaterThanOrEqual(300);
    expect(await renderSvg(spec as never)).toMatch(/^<svg/);
  });

  it('quality–diversity: runs with and without a score get different colours', () => {
    const spec = qualityDiversitySpec(lines) as unknown as { data: { values: { setting: string }[] }; encoding: { color: { field: string } } };
    const field = spec.encoding.color.field as 'setting';
    const colourOf = (i: number) => spec.data.values[i][field];
    expect(colourOf(1)).not.toBe(colourOf(3)); // same η = 1, with and without a score
  });
});
