/**
 * Vega-lite specs for the toy figures: the projected-plane attractor plot (Fig. 2) and phase
 * diagrams with boundary lines (Figs. 3, 4a, 4b). Rendering to SVG is in src/plot/render.ts.
 */
import type { VegaLiteSpec } from '../plot/render.js';
import type { AttractorReport, PhaseReport, PositionalReport } from './run.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const q = (field: string, title?: string, domain?: [number, number]) => ({
  field,
  type: 'quantitative' as const,
  ...(title ? { title } : {}),
  ...(domain ? { scale: { domain, nice: false, zero: false } } : {}),
});

/**
 * Fig. 2: tokens and N⁽⁰⁾ projected onto the plane spanned by N⁽⁰⁾ and a reference token
 * (e1 = N̂, e2 = the reference token's component orthogonal to N̂), at the chosen iterations.
 */
export function attractorPlot(rep: AttractorReport, vocab: Record<string, number[]>, refToken: string, iterations: number[]): VegaLiteSpec {
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  const panels = iterations.map((it) => {
    const step = rep.steps[it - 1];
    const nrm = Math.sqrt(dot(step.N, step.N));
    const e1 = step.N.map((x) => x / nrm);
    const ref = vocab[refToken];
    const r1 = dot(ref, e1);
    const perp = ref.map((x, i) => x - r1 * e1[i]);
    const pn = Math.sqrt(dot(perp, perp)) || 1;
    const e2 = perp.map((x) => x / pn);
    const pts = Object.entries(vocab).map(([t, v]) => ({ token: t, a: dot(v, e1), b: dot(v, e2) }));
    const scale = Math.max(...pts.map((p) => Math.hypot(p.a, p.b)));
    const lines = pts.map((p) => ({ token: p.token, a: p.a, b: p.b, a2: p.a, b2: 0 }));
    return {
      title: `iteration ${it}: ${step.sequence.join('')} → ${step.next}`,
      width: 260,
      height: 260,
      layer: [
        {
          data: { values: [{ a: 0, b: 0, a2: scale * 1.1, b2: 0 }] },
          mark: { type: 'rule', color: '#d62728', strokeWidth: 2 },
          encoding: { x: q('a', 'along N⁽⁰⁾'), y: q('b', `⊥ N⁽⁰⁾ (towards ${refToken})`), x2: { field: 'a2' }, y2: { field: 'b2' } },
        },
        {
          data: { values: lines },
          mark: { type: 'rule', strokeDash: [4, 3], color: '#1f77b4' },
          encoding: { x: q('a'), y: q('b'), x2: { field: 'a2' }, y2: { field: 'b2' } },
        },
        {
          data: { values: pts },
          mark: { type: 'point', filled: true, size: 60 },
          encoding: { x: q('a'), y: q('b'), color: { field: 'token', type: 'nominal' } },
        },
        { data: { values: pts }, mark: { type: 'text', dx: 8, dy: -8, fontWeight: 'bold' }, encoding: { x: q('a'), y: q('b'), text: { field: 'token' } } },
        {
          data: { values: [{ a: scale * 1.1, b: 0, label: 'N⁽⁰⁾' }] },
          mark: { type: 'text', dy: -10, color: '#d62728' },
          encoding: { x: q('a'), y: q('b'), text: { field: 'label' } },
        },
      ],
    };
  });
  return { $schema: SCHEMA, title: 'Repetition as an attractor (Huo & Johnson Fig. 2)', hconcat: panels } as unknown as VegaLiteSpec;
}

interface SliceAxes {
  uRange: [number, number];
  vRange: [number, number];
  uLabel: string;
  vLabel: string;
}

/** Shade the bad side of one boundary on a grid, draw every boundary segment, and mark the bad token. */
function phaseLayers(
  ax: SliceAxes,
  shade: { a: number; b: number; c: number },
  segments: { label: string; seg: [number, number][] | null; iteration?: number }[],
  bad: [number, number],
  badName: string,
): object[] {
  const n = 40;
  const grid: object[] = [];
  const du = (ax.uRange[1] - ax.uRange[0]) / n;
  const dv = (ax.vRange[1] - ax.vRange[0]) / n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const u = ax.uRange[0] + (i + 0.5) * du;
      const v = ax.vRange[0] + (j + 0.5) * dv;
      grid.push({
        u: u - du / 2,
        v: v - dv / 2,
        u2: u + du / 2,
        v2: v + dv / 2,
        side: shade.a * u + shade.b * v > shade.c ? `${badName} chosen` : 'good token chosen',
      });
    }
  }
  const segs = segments.flatMap((s, k) => (s.seg ? s.seg.map((p, o) => ({ label: s.label, iteration: s.iteration, order: k * 2 + o, u: p[0], v: p[1] })) : []));
  const byIteration = segments.some((s) => s.iteration !== undefined);
  const lineStyle = byIteration
    ? { color: { field: 'iteration', type: 'quantitative', scale: { scheme: 'viridis' }, title: 'iteration' } }
    : {
        strokeDash: { field: 'label', type: 'nominal', title: 'boundary' },
        color: { field: 'label', type: 'nominal', scale: { scheme: 'dark2' }, title: 'boundary' },
      };
  return [
    {
      data: { values: grid },
      mark: { type: 'rect', opacity: 0.35 },
      encoding: {
        x: q('u', ax.uLabel, ax.uRange),
        y: q('v', ax.vLabel, ax.vRange),
        x2: { field: 'u2' },
        y2: { field: 'v2' },
        fill: { field: 'side', type: 'nominal', scale: { range: ['#ff9896', '#aec7e8'] }, title: 'region' },
      },
    },
    {
      data: { values: segs },
      mark: { type: 'line', strokeWidth: 2 },
      encoding: { x: q('u'), y: q('v'), detail: { field: 'label' }, order: { field: 'order' }, ...lineStyle },
    },
    {
      data: { values: [{ u: bad[0], v: bad[1], name: badName }] },
      mark: { type: 'point', shape: 'cross', size: 150, color: 'black', filled: true },
      encoding: { x: q('u'), y: q('v') },
    },
    {
      data: { values: [{ u: bad[0], v: bad[1], name: badName }] },
      mark: { type: 'text', dx: 10, dy: -10 },
      encoding: { x: q('u'), y: q('v'), text: { field: 'name' } },
    },
  ];
}

/** Figs. 3 / 4a: the phase diagram with one boundary per ξ (exact recomputation; first order dashed). */
export function phasePlot(rep: PhaseReport, ax: SliceAxes, badName: string, title: string): VegaLiteSpec {
  const segments = rep.boundaries.flatMap((b) => [
    { label: `ξ = ${b.xi} exact`, seg: b.exact.segment },
    ...(b.firstOrder ? [{ label: `ξ = ${b.xi} first order (HJ Eq. 3)`, seg: b.firstOrder.segment }] : []),
  ]);
  return {
    $schema: SCHEMA,
    title,
    width: 360,
    height: 360,
    layer: phaseLayers(ax, rep.boundaries[0].exact.line, segments, rep.badInSlice, badName),
  } as unknown as VegaLiteSpec;
}

/** Fig. 4b: boundaries at chosen iterations under positional encoding. */
export function positionalPlot(rep: PositionalReport, ax: SliceAxes, badName: string, every = 10): VegaLiteSpec {
  const picks = rep.boundaries.map((b, i) => ({ b, it: i + 1 })).filter(({ it }) => it === 1 || it % every === 0 || it === rep.switchIteration);
  const segments = picks.map(({ b, it }) => ({ label: `iteration ${it}`, iteration: it, seg: b.segment }));
  const title = `Boundary rotation under positional encoding (Fig. 4b)${rep.switchIteration ? `: ${badName} from iteration ${rep.switchIteration}` : ''}`;
  return {
    $schema: SCHEMA,
    title,
    width: 360,
    height: 360,
    layer: phaseLayers(ax, rep.boundaries[0].line, segments, rep.badInSlice, badName),
  } as unknown as VegaLiteSpec;
}
