/**
 * The calibration report of the decisive benchmark (issue 14 point 3; BL Sec. V E(a)): for which
 * (η, λ, β) the token spin over-damps, is well calibrated, or wanders — measured on brown-small's
 * context fields N_proj (final residual, the decisive benchmark's source) of Brown test-split
 * contexts with the decisive residual score (models/decisive/guided), the heun integrator at K = 50.
 *
 * Grid: η ∈ {0, 0.5, 1, 2, 4, 8, 16} and the annealed linear 0.5 → 3; plain drift (BL Eq. 14) and
 * LLG (BL Eq. 9, orthogonal precession, γ = 1) with λ ∈ {0.25, 1, 4}; β linear (the score's schedule)
 * scaled by {0.25, 1, 4}, and cosine. Every trajectory is measured by sampling/calibration.ts; the
 * regimes follow its CALIBRATION_THRESHOLDS.
 *
 *   npx tsx sampling/calibration-report.ts [--out docs/results/decisive] [--contexts 32] [--seeds 6] [--seed 0]
 *     → calibration.csv, calibration.md, calibration.svg
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { uniformSpinRows } from '../src/core/sphere.js';
import type { NoiseSchedule } from '../src/core/schedules.js';
import type { VegaLiteSpec } from '../src/plot/render.js';
import { makeRng } from '../src/rng.js';
import type { ScoreModel } from '../src/score/contract.js';
import {
  CALIBRATION_THRESHOLDS,
  classify,
  quantile,
  readRows,
  runTrajectories,
  summarise,
  unitRowsOf,
  type CalibrationSummary,
  type Regime,
} from './calibration.js';
import type { ParamSchedule } from './drift.js';
import { INTEGRATORS } from './integrators/index.js';
import type { TokenReadout } from './readout.js';

/** One setting of the grid, with its labels. */
export interface GridPoint {
  etaLabel: string;
  eta: ParamSchedule;
  lambda: number | null;
  scheduleLabel: string;
  schedule: NoiseSchedule;
}

export const CALIBRATION_ETAS: readonly [string, ParamSchedule][] = [
  ['0', 0],
  ['0.5', 0.5],
  ['1', 1],
  ['2', 2],
  ['4', 4],
  ['8', 8],
  ['16', 16],
  ['anneal 0.5→3', { kind: 'linear', from: 0.5, to: 3 }],
];
export const CALIBRATION_LAMBDAS: readonly (number | null)[] = [null, 0.25, 1, 4];

/** The grid over η × mode × β for a base (linear) schedule. */
export function calibrationGrid(base: NoiseSchedule): GridPoint[] {
  const scaled = (kind: NoiseSchedule['kind'], s: number): NoiseSchedule => ({ ...base, kind, betaMin: base.betaMin * s, betaMax: base.betaMax * s });
  const schedules: [string, NoiseSchedule][] = [
    ['linear ×0.25', scaled('linear', 0.25)],
    ['linear ×1', scaled('linear', 1)],
    ['linear ×4', scaled('linear', 4)],
    ['cosine ×1', scaled('cosine', 1)],
  ];
  const grid: GridPoint[] = [];
  for (const lambda of CALIBRATION_LAMBDAS)
    for (const [scheduleLabel, schedule] of schedules)
      for (const [etaLabel, eta] of CALIBRATION_ETAS) grid.push({ etaLabel, eta, lambda, scheduleLabel, schedule });
  return grid;
}

/** One row of calibration.csv. */
export interface CalibrationRow extends CalibrationSummary {
  eta: string;
  mode: string;
  schedule: string;
  regime: Regime;
  /** The drift-free precession turns ∫γη|G|dτ/2π (LLG), 0 in plain mode. */
  windingExpected: number;
}

/** What {@link runCalibrationGrid} needs: context fields, the readout, the score and the sizes. */
export interface CalibrationInputs {
  /** One field per context [contexts·d]. */
  fields: Float32Array;
  d: number;
  readout: TokenReadout;
  score: ScoreModel | null;
  base: NoiseSchedule;
  tMin: number;
  seeds: number;
  seed: number;
  steps?: number;
  every?: number;
  grid?: GridPoint[];
  onCell?: (i: number, total: number, row: CalibrationRow) => void;
}

/**
 * Run every setting of the grid; also returns the uniform-spin margin quantile that defines
 * "wandering" and, for reference, the median readout margin of the fields N̂ themselves (where the
 * drift-only flow ends).
 */
export function runCalibrationGrid(o: CalibrationInputs): { rows: CalibrationRow[]; nullMarginQ: number; fieldMargin: number } {
  const { d, seeds } = o;
  const contexts = o.fields.length / d;
  const N = new Float32Array(contexts * seeds * d); // [contexts·seeds·d], context-major
  for (let c = 0; c < contexts; c++) for (let s = 0; s < seeds; s++) N.set(o.fields.subarray(c * d, (c + 1) * d), (c * seeds + s) * d);
  const fieldRead = readRows(o.readout, unitRowsOf(o.fields, d), d);
  const fieldArgmax = fieldRead.ids;
  const nullMargins = readRows(o.readout, uniformSpinRows(4096, d, makeRng(`calibration/${o.seed}/null`)), d).margin;
  const nullMarginQ = quantile(nullMargins, CALIBRATION_THRESHOLDS.wanderMarginQuantile);
  const grid = o.grid ?? calibrationGrid(o.base);
  const steps = o.steps ?? 50;
  const rows: CalibrationRow[] = [];
  for (const [i, g] of grid.entries()) {
    const mode = g.lambda === null ? 'plain' : `LLG λ=${g.lambda}`;
    const run = runTrajectories({
      setting: { eta: g.eta, lambda: g.lambda, schedule: g.schedule },
      N,
      d,
      readout: o.readout,
      integrator: INTEGRATORS.heun,
      steps,
      tMin: o.tMin,
      score: o.score,
      every: o.every ?? 5,
      rng: makeRng(`calibration/${o.seed}/${g.etaLabel}/${mode}/${g.scheduleLabel}`),
    });
    const s = summarise(run.rows, seeds, fieldArgmax, run.peclet);
    const tauEnd = g.schedule.T - o.tMin;
    const etaInt = typeof g.eta === 'number' ? g.eta * tauEnd : ((g.eta.from + g.eta.to) / 2) * tauEnd; // linear schedules only
    const row: CalibrationRow = {
      eta: g.etaLabel,
      mode,
      schedule: g.scheduleLabel,
      ...s,
      regime: run.nonFinite ? 'wandering' : classify(s, nullMarginQ),
      windingExpected: g.lambda === null ? 0 : etaInt / (2 * Math.PI),
    };
    rows.push(row);
    o.onCell?.(i + 1, grid.length, row);
  }
  return { rows, nullMarginQ, fieldMargin: quantile(fieldRead.margin, 0.5) };
}

const CSV_COLS = [
  'eta',
  'mode',
  'schedule',
  'peclet',
  'seedAgreement',
  'fieldArgmaxShare',
  'commitment',
  'cosField',
  'cosDrift',
  'margin',
  'winding',
  'windingExpected',
  'regime',
] as const;

export function calibrationCsv(rows: readonly CalibrationRow[]): string {
  const cell = (v: unknown) => (typeof v === 'number' ? String(+v.toPrecision(4)) : `"${String(v)}"`);
  return [CSV_COLS.join(','), ...rows.map((r) => CSV_COLS.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}

/** The phase diagram: η × β setting, one panel per mode, colour = regime, text = seed agreement. */
export function calibrationSpec(rows: readonly CalibrationRow[]): VegaLiteSpec {
  const etaOrder = CALIBRATION_ETAS.map(([l]) => l);
  const x = { field: 'eta', type: 'ordinal', sort: etaOrder, title: 'η (guidance strength)' };
  const y = { field: 'schedule', type: 'ordinal', title: 'β schedule × scale' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Drift–noise calibration (brown-small fields, decisive score, heun K = 50): regime per setting; number = seed agreement',
    data: { values: rows.map((r) => ({ ...r, agreement: r.seedAgreement.toFixed(2) })) },
    facet: { column: { field: 'mode', type: 'nominal', title: null, sort: ['plain', 'LLG λ=0.25', 'LLG λ=1', 'LLG λ=4'] } },
    spec: {
      width: 300,
      height: 140,
      layer: [
        {
          mark: 'rect',
          encoding: {
            x,
            y,
            color: {
              field: 'regime',
              type: 'nominal',
              scale: { domain: ['over-damped', 'well-calibrated', 'wandering'], range: ['#d62728', '#2ca02c', '#7f7f7f'] },
            },
            tooltip: [
              { field: 'eta' },
              { field: 'mode' },
              { field: 'schedule' },
              { field: 'peclet' },
              { field: 'seedAgreement' },
              { field: 'margin' },
              { field: 'commitment' },
            ],
          },
        },
        { mark: { type: 'text', fontSize: 9 }, encoding: { x, y, text: { field: 'agreement' } } },
      ],
    },
  } as VegaLiteSpec;
}

export function calibrationMarkdown(
  rows: readonly CalibrationRow[],
  nullMarginQ: number,
  meta: { contexts: number; seeds: number; seed: number; wallS: number; fieldMargin: number },
): string {
  const th = CALIBRATION_THRESHOLDS;
  const f = (v: number, p = 3) => (Number.isFinite(v) ? v.toFixed(p) : String(v));
  const count = (r: Regime) => rows.filter((x) => x.regime === r).length;
  return [
    '# Drift–noise calibration of the guided reverse SDE (BL Sec. V E(a))',
    '',
    `Generated by \`npx tsx sampling/calibration-report.ts --seed ${meta.seed}\` (${meta.contexts} Brown test contexts × ${meta.seeds} seeds per setting, ` +
      `brown-small final-residual fields, residual score models/decisive/guided, heun K = 50, t_min = 0.02; ${rows.length} settings in ${Math.round(meta.wallS)} s).`,
    '',
    '## Regimes (thresholds fixed before the grid was run; sampling/calibration.ts)',
    '',
    `- **over-damped**: seed agreement ≥ ${th.overDampedAgreement} — two seeds of the same context read out the same token at least ${th.overDampedAgreement * 100}% of the time: the noise no longer chooses.`,
    `- **wandering**: not over-damped, and the median readout margin cos(S, ê₁) − cos(S, ê₂) ≤ ${f(nullMarginQ, 4)} (the ${th.wanderMarginQuantile} quantile of the margin of uniformly random spins: S ends between tokens like a random point), or the median commitment fraction ≥ ${th.wanderCommitment} (the readout still changes in the last tenth of the run).`,
    '- **well calibrated**: neither.',
    '',
    `Reference: the median readout margin of the field directions N̂ themselves (where the drift-only flow ends) is ${f(meta.fieldMargin, 4)}; a spin that collapses onto N̂ inherits it.`,
    '',
    `Counts: over-damped ${count('over-damped')}, well calibrated ${count('well-calibrated')}, wandering ${count('wandering')}.`,
    '',
    'Columns: Pe = 2∫c_N dτ / ((d−1)∫β dτ) (drift against diffusion on S^{d−1}); agreement = seed agreement; argmax = share of outputs equal to the field argmax token argmax_t N̂·ê_t; ' +
      'commit = median fraction of the run after which the readout no longer changes; cos(S,N̂) = median final alignment; drift-only = median noiseless, score-free value from the same start (tanh law); ' +
      'margin = median readout margin; turns = median precession winding about N̂ (expected without noise: ∫γη dτ/2π).',
    '',
    '| η | mode | β | Pe | agreement | argmax | commit | cos(S,N̂) | drift-only | margin | turns (expected) | regime |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.eta} | ${r.mode} | ${r.schedule} | ${f(r.peclet)} | ${f(r.seedAgreement, 2)} | ${f(r.fieldArgmaxShare, 2)} | ${f(r.commitment, 2)} | ${f(r.cosField)} | ${f(r.cosDrift)} | ${f(r.margin, 4)} | ${r.mode === 'plain' ? '–' : `${f(r.winding, 2)} (${f(r.windingExpected, 2)})`} | ${r.regime} |`,
    ),
    '',
  ].join('\n');
}

if (process.argv[1]?.endsWith('calibration-report.ts')) {
  const arg = (name: string, def: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : def;
  };
  const out = arg('out', 'docs/results/decisive');
  const contexts = Number(arg('contexts', '32'));
  const seeds = Number(arg('seeds', '6'));
  const seed = Number(arg('seed', '0'));
  for (const [k, v] of [
    ['contexts', contexts],
    ['seeds', seeds],
  ] as const)
    if (!Number.isInteger(v) || v < (k === 'seeds' ? 2 : 1)) {
      console.error(`calibration-report: --${k} must be an integer ≥ ${k === 'seeds' ? 2 : 1} (got ${String(v)})`);
      process.exit(2);
    }
  const t0 = performance.now();
  const { useBackend } = await import('../src/backend.js');
  const { loadModel } = await import('../src/model/load.js');
  const { contextFields } = await import('../src/field/source.js');
  const { openScore } = await import('./score.js');
  const { brownTestPrompts } = await import('./sweep-prompts.js');
  const { TokenReadout } = await import('./readout.js');
  await useBackend();
  const lm = await loadModel(undefined, {});
  const score = await openScore('models/decisive/guided', { embedded: false });
  const prompts = brownTestPrompts(lm.tokenizer, contexts, 24, seed);
  const Ft = await contextFields(lm.model, prompts.ids, { kind: 'final' }); // [contexts, d]
  const fields = Float32Array.from(Ft.dataSync());
  Ft.dispose();
  const readout = new TokenReadout(lm.model.params().get('embed.W_E')!, [lm.tokenizer.eosId]);
  const { rows, nullMarginQ, fieldMargin } = runCalibrationGrid({
    fields,
    d: lm.model.dModel,
    readout,
    score,
    base: score!.meta.schedule,
    tMin: score!.meta.tMin,
    seeds,
    seed,
    onCell: (i, n, r) =>
      console.error(
        `${i}/${n} η=${r.eta} ${r.mode} ${r.schedule}: agreement ${r.seedAgreement.toFixed(2)} margin ${r.margin.toFixed(4)} commit ${r.commitment.toFixed(2)} → ${r.regime}`,
      ),
  });
  const wallS = (performance.now() - t0) / 1000;
  mkdirSync(out, { recursive: true });
  const { writeFilesAtomic } = await import('../src/io/atomic.js');
  const { renderSvg } = await import('../src/plot/render.js');
  writeFilesAtomic(out, [
    ['calibration.csv', calibrationCsv(rows)],
    ['calibration.md', calibrationMarkdown(rows, nullMarginQ, { contexts, seeds, seed, wallS, fieldMargin })],
    ['calibration.svg', await renderSvg(calibrationSpec(rows))],
  ]);
  readout.dispose();
  lm.dispose();
  console.error(`wrote ${join(out, 'calibration.{csv,md,svg}')} in ${wallS.toFixed(0)} s`);
}
