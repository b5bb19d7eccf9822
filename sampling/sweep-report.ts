/**
 * Sweep summaries and plots from result lines (sampling/sweep.ts):
 *   summary.md / summary.csv  one row per setting (run without its seed): every metric as the mean
 *                             over its seeds, with the number of seeds
 *   runs.csv                  one row per run
 *   quality-diversity.svg     evaluator perplexity (log) against distinct-2, one point per run
 *   metrics-vs-eta.svg        each metric against η (guided runs; mean over seeds; colour λ)
 *   metrics-vs-lambda.svg     each metric against λ ('off' first; colour η)
 */
import { join } from 'node:path';
import { atomicWrite } from '../src/io/atomic.js';
import { renderSvg, type VegaLiteSpec } from '../src/plot/render.js';
import { METRIC_KEYS } from './metrics.js';
import { canonicalJson } from './sweep-config.js';
import type { ResultLine } from './sweep.js';

export interface SummaryRow {
  label: string;
  kind: 'guided' | 'baseline' | 'euclidean';
  seeds: number;
  runIds: string[];
  metrics: Record<string, number | null>;
}

const mean = (xs: (number | null | undefined)[]) => {
  const ok = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return ok.length === 0 ? null : ok.reduce((a, b) => a + b, 0) / ok.length;
};

/** Rows grouped by everything but the seed (and the setup), in first-run order. */
export function summaryRows(lines: readonly ResultLine[]): SummaryRow[] {
  const groups = new Map<string, ResultLine[]>();
  for (const l of lines) {
    const { seed: _s, ...rest } = l.params;
    void _s;
    const key = canonicalJson({ rest, setup: l.setup });
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(l);
  }
  return [...groups.values()].map((g) => ({
    label: g[0].label,
    kind: g[0].params.kind,
    seeds: g.length,
    runIds: g.map((l) => l.runId),
    metrics: Object.fromEntries(METRIC_KEYS.map((k) => [k, mean(g.map((l) => l.metrics[k]))])),
  }));
}

const fmt = (x: number | null | undefined, d = 3) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function summaryMarkdown(rows: readonly SummaryRow[]): string {
  const head = `| setting | seeds | ${METRIC_KEYS.join(' | ')} |\n|---|---:|${METRIC_KEYS.map(() => '---:').join('|')}|\n`;
  return (
    head +
    rows.map((r) => `| ${r.label} | ${r.seeds} | ${METRIC_KEYS.map((k) => fmt(r.metrics[k], k === 'perplexity' ? 2 : 3)).join(' | ')} |`).join('\n') +
    '\n'
  );
}

export function summaryCsv(rows: readonly SummaryRow[]): string {
  return (
    [
      ['setting', 'kind', 'seeds', ...METRIC_KEYS].join(','),
      ...rows.map((r) => [r.label, r.kind, r.seeds, ...METRIC_KEYS.map((k) => r.metrics[k])].map(csvCell).join(',')),
    ].join('\n') + '\n'
  );
}

export function runsCsv(lines: readonly ResultLine[]): string {
  const cols = ['index', 'run_id', 'label', 'kind', 'seed', 'eta', 'lambda', 'steps', ...METRIC_KEYS];
  const row = (l: ResultLine) => {
    const p = l.params;
    const g = p.kind === 'guided' ? p : null;
    return [l.index, l.runId, l.label, p.kind, p.seed, g?.eta, g?.lambda, g?.steps, ...METRIC_KEYS.map((k) => l.metrics[k])];
  };
  return [cols.join(','), ...lines.map((l) => row(l).map(csvCell).join(','))].join('\n') + '\n';
}

/** Legends wide enough for whole setting labels, below the plot. */
const LEGEND = { labelLimit: 520, orient: 'bottom', columns: 1 } as const;

/** Whether positive values span at least a decade (then a log axis shows them). */
export function spansDecades(values: readonly number[]): boolean {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length < 2 || v.some((x) => x <= 0)) return false;
  return Math.max(...v) / Math.min(...v) >= 10;
}

/** Perplexity (log scale) against distinct-2, one point per run. */
export function qualityDiversitySpec(lines: readonly ResultLine[]): VegaLiteSpec {
  const values = lines
    .filter((l) => l.metrics.perplexity !== null && l.metrics.distinct_2 !== null)
    // colour: the run's whole setting (its label without the seed), so runs with and without a score never share one
    .map((l) => ({ setting: l.label, kind: l.params.kind, seed: l.params.seed ?? 0, perplexity: l.metrics.perplexity, distinct_2: l.metrics.distinct_2 }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Quality against diversity (one point per run)',
    width: 420,
    height: 320,
    data: { values },
    mark: { type: 'point', filled: true, size: 70, opacity: 0.8 },
    encoding: {
      x: { field: 'distinct_2', type: 'quantitative', title: 'distinct-2 (token ids)', scale: { zero: false } },
      y: { field: 'perplexity', type: 'quantitative', title: 'evaluator perplexity', scale: { type: 'log' } },
      color: { field: 'setting', type: 'nominal', title: 'setting', scale: { scheme: values.length > 10 ? 'category20' : 'tableau10' }, legend: LEGEND },
      shape: { field: 'kind', type: 'nominal' },
      tooltip: [{ field: 'setting' }, { field: 'seed' }, { field: 'perplexity' }, { field: 'distinct_2' }],
    },
  } as VegaLiteSpec;
}

/** Each metric against η (x: quantitative) or λ (x: ordinal with 'off'), guided runs, mean over seeds. */
export function metricsAgainstSpec(lines: readonly ResultLine[], axis: 'eta' | 'lambda'): VegaLiteSpec | null {
  const guided = lines.filter((l) => l.params.kind === 'guided' && typeof l.params.eta === 'number' && !l.params.steer); // constant η only
  if (guided.length === 0) return null;
  const lamOrder = [
    'off',
    ...[...new Set(guided.map((l) => (l.params.kind === 'guided' ? l.params.lambda : 'off')).filter((x): x is number => x !== 'off'))]
      .sort((a, b) => a - b)
      .map(String),
  ];
  type G = Extract<ResultLine['params'], { kind: 'guided' }>;
  const describe = (p: G) => [
    p.fieldSource,
    p.score === 'none' ? 'no score' : `score ${p.score}`,
    `K=${p.steps}`,
    p.schedule === 'default' ? 'β default' : `β ${p.schedule.kind} ${p.schedule.betaMin}→${p.schedule.betaMax}`,
    p.integrator,
    p.readout,
  ];
  const parts = guided.map((l) => describe(l.params as G));
  const varies = parts[0].map((_, j) => new Set(parts.map((d) => d[j])).size > 1); // show only settings that vary
  const values = guided.flatMap((l, i) => {
    const p = l.params as G;
    const other = parts[i]
      .filter((_, j) => varies[j])
      .map((x) => ' ' + x)
      .join('');
    return METRIC_KEYS.filter((k) => l.metrics[k] !== null).map((k) => ({
      metric: k,
      value: l.metrics[k],
      eta: p.eta,
      lambda: String(p.lambda),
      series: axis === 'eta' ? `λ=${p.lambda}${other}` : `η=${p.eta}${other}`,
    }));
  });
  const x =
    axis === 'eta'
      ? { field: 'eta', type: 'quantitative', title: 'η (guidance)' }
      : { field: 'lambda', type: 'ordinal', title: 'λ (LLG damping; off = plain drift)', sort: lamOrder };
  // one panel per metric, each with its own y axis: logarithmic where the metric spans decades (perplexity)
  const panels = METRIC_KEYS.filter((k) => values.some((v) => v.metric === k)).map((k) => {
    const log = spansDecades(values.filter((v) => v.metric === k).map((v) => v.value as number));
    return {
      title: { text: `${k}${log ? ' (log)' : ''}`, fontSize: 11 },
      width: 170,
      height: 130,
      transform: [{ filter: { field: 'metric', equal: k } }],
      mark: { type: 'line', point: true },
      encoding: {
        x,
        y: { aggregate: 'mean', field: 'value', type: 'quantitative', title: null, scale: log ? { type: 'log' } : { zero: false }, axis: { format: '.5~g' } },
        color: { field: 'series', type: 'nominal', title: axis === 'eta' ? 'λ' : 'η', legend: LEGEND },
      },
    };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Metrics against ${axis === 'eta' ? 'η' : 'λ'} (guided runs, mean over seeds)`,
    data: { values },
    concat: panels,
    columns: 4,
    resolve: { scale: { y: 'independent' } },
  } as VegaLiteSpec;
}

/** Write summary.md, summary.csv, runs.csv and the SVG plots into `outDir`; returns their paths. */
export async function writeReport(outDir: string, lines: readonly ResultLine[]): Promise<string[]> {
  const rows = summaryRows(lines);
  const files: [string, string][] = [
    ['summary.md', summaryMarkdown(rows)],
    ['summary.csv', summaryCsv(rows)],
    ['runs.csv', runsCsv(lines)],
  ];
  if (lines.length > 0) files.push(['quality-diversity.svg', await renderSvg(qualityDiversitySpec(lines))]);
  for (const axis of ['eta', 'lambda'] as const) {
    const spec = metricsAgainstSpec(lines, axis);
    if (spec) files.push([`metrics-vs-${axis}.svg`, await renderSvg(spec)]);
  }
  return files.map(([name, text]) => {
    atomicWrite(join(outDir, name), text);
    return join(outDir, name);
  });
}
