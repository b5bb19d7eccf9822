/**
 * Vega-lite specs for the head analysis: the ΔL_theory vs ΔL_actual scatter (BL Fig. 1), the
 * decision landscape of one head (BL Fig. 2), the temperature sweep (BL Fig. 3), head ablations (BL Fig. 4).
 */
import type { VegaLiteSpec } from '../plot/render.js';
import type { AblationEffect, HeadAnalysis, HeadResult, Landscape } from './heads.js';
import { leastSquares } from './stats.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const q = (field: string, title?: string) => ({ field, type: 'quantitative' as const, ...(title ? { title } : {}) });
const spec = (s: object) => ({ $schema: SCHEMA, ...s }) as unknown as VegaLiteSpec;

/** Vega-Lite scatter of ΔL_theory against ΔL_actual for one head. */
export function scatterPlot(a: HeadAnalysis, h: HeadResult, ln = false): VegaLiteSpec {
  const theory = ln ? h.theory_ln : h.theory;
  const pts = a.prompts.map((p, i) => ({ theory: theory[i], actual: p.actual, label: `${p.good}/${p.bad}` }));
  const fit = leastSquares(
    theory,
    pts.map((p) => p.actual),
  );
  const xs = [Math.min(...theory), Math.max(...theory)];
  const r = ln ? h.r_ln : h.r;
  const p = ln ? h.p_ln : h.p;
  return spec({
    title: `L${h.layer}H${h.head} (${a.mode}${ln ? ', LN-scaled' : ''}): r = ${r.toFixed(3)}, r² = ${(r * r).toFixed(3)}, p = ${p.toExponential(2)}, n = ${pts.length}`,
    width: 420,
    height: 320,
    layer: [
      {
        data: { values: pts },
        mark: { type: 'point', filled: true, size: 60 },
        encoding: { x: q('theory', 'ΔL_theory (head)'), y: q('actual', 'ΔL_actual (model)'), tooltip: [{ field: 'label' }] },
      },
      {
        data: { values: xs.map((x) => ({ theory: x, actual: fit.intercept + fit.slope * x })) },
        mark: { type: 'line', color: '#d62728' },
        encoding: { x: q('theory'), y: q('actual') },
      },
    ],
  });
}

/** Vega-Lite heat map of a head's decision landscape (BL Fig. 2). */
export function landscapePlot(ls: Landscape, goodName: string, badName: string, prompt: string): VegaLiteSpec {
  const pts = [ls.N0, ls.good, ls.bad, [0, 0]];
  const ext = Math.max(...pts.flat().map(Math.abs)) * 1.25 || 1;
  const n = 48;
  const grid: object[] = [];
  const step = (2 * ext) / n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const x = -ext + (i + 0.5) * step;
      const y = -ext + (j + 0.5) * step;
      grid.push({ x: x - step / 2, x2: x + step / 2, y: y - step / 2, y2: y + step / 2, field: ls.N0[0] * x + ls.N0[1] * y });
    }
  }
  const marks = [
    { x: ls.good[0], y: ls.good[1], name: `good: ${goodName}` },
    { x: ls.bad[0], y: ls.bad[1], name: `bad: ${badName}` },
  ];
  return spec({
    title: {
      text: `Decision landscape of L${ls.layer}H${ls.head}: ΔL_theory = ${ls.gap.toFixed(4)}`,
      subtitle: prompt.length > 70 ? prompt.slice(0, 67) + '…' : prompt,
    },
    width: 380,
    height: 380,
    layer: [
      {
        data: { values: grid },
        mark: 'rect',
        encoding: {
          x: q('x', '⊥ ΔS (towards N₀)'),
          x2: { field: 'x2' },
          y: q('y', 'ΔS = S_good − S_bad'),
          y2: { field: 'y2' },
          color: { field: 'field', type: 'quantitative', title: 'N₀·s', scale: { scheme: 'redblue', reverse: true, domainMid: 0 } },
        },
      },
      {
        data: { values: [{ x: 0, y: 0, x2: ls.N0[0], y2: ls.N0[1] }] },
        mark: { type: 'rule', color: 'black', strokeWidth: 2.5 },
        encoding: { x: q('x'), y: q('y'), x2: { field: 'x2' }, y2: { field: 'y2' } },
      },
      {
        data: { values: [{ x: ls.N0[0], y: ls.N0[1], name: 'N₀' }] },
        mark: { type: 'text', dx: 10, dy: -8, fontWeight: 'bold' },
        encoding: { x: q('x'), y: q('y'), text: { field: 'name' } },
      },
      {
        data: { values: marks },
        mark: { type: 'point', filled: true, size: 120, stroke: 'black' },
        encoding: {
          x: q('x'),
          y: q('y'),
          shape: { field: 'name', type: 'nominal', title: 'token', scale: { domain: marks.map((m) => m.name), range: ['circle', 'square'] } },
          fill: { field: 'name', type: 'nominal', title: 'token', scale: { domain: marks.map((m) => m.name), range: ['#2ca02c', '#ff7f0e'] } },
        },
      },
    ],
  });
}

/** Vega-Lite bar chart of ΔL_actual under head ablations (BL Fig. 4). */
export function ablationPlot(effects: AblationEffect[], prompt: string): VegaLiteSpec {
  return spec({
    title: { text: 'Logit difference under head ablation', subtitle: prompt.length > 70 ? prompt.slice(0, 67) + '…' : prompt },
    width: 60 * effects.length,
    height: 280,
    data: { values: effects.map((e) => ({ ablated: e.label, actual: e.actual })) },
    mark: 'bar',
    encoding: {
      x: { field: 'ablated', type: 'nominal', sort: null, title: 'heads ablated' },
      y: q('actual', 'ΔL_actual'),
      color: { condition: { test: 'datum.actual < 0', value: '#d62728' }, value: '#1f77b4' },
    },
  });
}

/** Vega-Lite plot of mean entropy and top-1 probability against the global temperature (BL Fig. 3). */
export function temperaturePlot(rows: { T: number; entropy_bits: number; top1: number }[]): VegaLiteSpec {
  const base = { data: { values: rows }, width: 360, height: 240 };
  return spec({
    title: 'Order parameters vs global temperature (BL Fig. 3)',
    hconcat: [
      { ...base, mark: { type: 'line', point: true }, encoding: { x: q('T', 'T'), y: q('entropy_bits', 'mean entropy S(P(T)) [bits]') } },
      { ...base, mark: { type: 'line', point: true, color: '#d62728' }, encoding: { x: q('T', 'T'), y: q('top1', 'mean P_top-1(T)') } },
    ],
  });
}
