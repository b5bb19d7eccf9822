/**
 * Plots of the decisive report (sampling/decisive.ts), as vega-lite specs rendered by src/plot:
 *   frontier-<evaluator>.svg   perplexity (log) against distinct-2 with 95% intervals, one point per
 *                              setting, colour = method, filled = on the Pareto frontier
 *   k-<evaluator>.svg          perplexity and distinct-2 against K per integrator (the integrator block)
 *   control-<evaluator>.svg    topic-word hit rate against perplexity: steering α vs logit bias b
 */
import type { VegaLiteSpec } from '../src/plot/render.js';
import type { DecisiveRow } from './decisive.js';

const slug = (s: string) => s.replace(/[^\w.-]+/g, '_');

export function frontierSpec(rows: readonly DecisiveRow[], evaluator: string): VegaLiteSpec {
  const values = rows.filter((r) => r.evaluator === evaluator && Number.isFinite(r.perplexity)).map((r) => ({ ...r, frontier: r.pareto ? 'on' : 'off' }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Quality–diversity frontier (evaluator ${evaluator}; 95% bootstrap intervals over prompts)`,
    width: 640,
    height: 420,
    data: { values },
    layer: [
      {
        mark: { type: 'rule', opacity: 0.4 },
        encoding: {
          x: { field: 'distinct_2', type: 'quantitative' },
          y: { field: 'perplexity_lo', type: 'quantitative', scale: { type: 'log' } },
          y2: { field: 'perplexity_hi' },
          color: { field: 'method', type: 'nominal' },
        },
      },
      {
        mark: { type: 'rule', opacity: 0.4 },
        encoding: {
          y: { field: 'perplexity', type: 'quantitative', scale: { type: 'log' } },
          x: { field: 'distinct_2_lo', type: 'quantitative' },
          x2: { field: 'distinct_2_hi' },
          color: { field: 'method', type: 'nominal' },
        },
      },
      {
        mark: { type: 'point', size: 60 },
        encoding: {
          x: { field: 'distinct_2', type: 'quantitative', title: 'distinct-2 (diversity →)', scale: { zero: false } },
          y: { field: 'perplexity', type: 'quantitative', title: `perplexity under ${evaluator} (log; ↓ better)`, scale: { type: 'log' } },
          color: { field: 'method', type: 'nominal' },
          shape: { field: 'method', type: 'nominal' },
          fill: { condition: { test: "datum.frontier === 'on'", field: 'method', type: 'nominal' }, value: 'transparent' },
          tooltip: [{ field: 'setting' }, { field: 'perplexity' }, { field: 'distinct_2' }, { field: 'frontier' }],
        },
      },
    ],
  } as VegaLiteSpec;
}

/** Rows of the integrator × K block: settings 'guided … K=k [integrator]' with the given η and score. */
export function kSpec(
  rows: readonly DecisiveRow[],
  evaluator: string,
  match: (r: DecisiveRow) => { integrator: string; K: number } | null,
): VegaLiteSpec | null {
  const values = rows
    .filter((r) => r.evaluator === evaluator)
    .flatMap((r) => {
      const m = match(r);
      return m
        ? [
            { ...m, metric: `perplexity (${evaluator})`, value: r.perplexity, lo: r.perplexity_lo, hi: r.perplexity_hi },
            { ...m, metric: 'distinct-2', value: r.distinct_2, lo: r.distinct_2_lo, hi: r.distinct_2_hi },
          ]
        : [];
    });
  if (values.length === 0) return null;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Text metrics against the number of reverse steps K, per integrator (95% intervals)',
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    spec: {
      width: 300,
      height: 240,
      layer: [
        {
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'K', type: 'quantitative', scale: { type: 'log' } },
            y: { field: 'value', type: 'quantitative', scale: { zero: false } },
            color: { field: 'integrator', type: 'nominal' },
          },
        },
        {
          mark: { type: 'rule', opacity: 0.5 },
          encoding: {
            x: { field: 'K', type: 'quantitative' },
            y: { field: 'lo', type: 'quantitative' },
            y2: { field: 'hi' },
            color: { field: 'integrator', type: 'nominal' },
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as VegaLiteSpec;
}

export function controlSpec(rows: readonly DecisiveRow[], evaluator: string): VegaLiteSpec | null {
  const values = rows.filter((r) => r.evaluator === evaluator && (r.method === 'steered' || r.method === 'logit-bias' || /α=0\b/.test(r.setting)));
  if (values.length === 0) return null;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Controllability: topic-word hit rate against perplexity under ${evaluator} (95% intervals)`,
    width: 560,
    height: 360,
    data: { values },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'hit_rate', type: 'quantitative', title: 'topic-word hit rate' },
          y: { field: 'perplexity', type: 'quantitative', scale: { type: 'log' }, title: 'perplexity (log)' },
          color: { field: 'method', type: 'nominal' },
          order: { field: 'hit_rate' },
          tooltip: [{ field: 'setting' }],
        },
      },
      {
        mark: { type: 'rule', opacity: 0.4 },
        encoding: {
          x: { field: 'hit_rate_lo', type: 'quantitative' },
          x2: { field: 'hit_rate_hi' },
          y: { field: 'perplexity', type: 'quantitative', scale: { type: 'log' } },
          color: { field: 'method', type: 'nominal' },
        },
      },
    ],
  } as VegaLiteSpec;
}

export { slug };
