/**
 * Weak error of every integrator against the von Mises–Fisher law (issue 14): the reverse SDE of
 * sampling/drift.ts with constant field N = |N| e₀ and constant β, no score, has the stationary law
 * vMF(N̂, κ = 2η|N|/β) (BL Eq. 14 / B6; drift.ts), with E[S·N̂] = A_d(κ) =
 * I_{d/2}(κ)/I_{d/2−1}(κ) (sampling/vmf.ts). For each integrator and step size dτ, `n` independent
 * chains from uniform spins run `burn` time units, then their time average of S·N̂ over `collect`
 * time units estimates E[S·N̂]; the weak error is estimate − A_d(κ), with its standard error over
 * chains. Time unit: the faster of the diffusive rate (d−1)β/2 and the drift rate κβ/2 is 1.
 *
 *   npx tsx sampling/weak-error.ts [--out docs/results/decisive]   → weak-error.csv, weak-error.md
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { uniformSpinRows } from '../src/core/sphere.js';
import { makeRng } from '../src/rng.js';
import { GuidedDrift } from './drift.js';
import { INTEGRATORS, INTEGRATOR_NAMES, type IntegratorName } from './integrators/index.js';
import { integrateReverse } from './reverse.js';
import { vmfMeanCos } from './vmf.js';

export interface WeakErrorRow {
  integrator: IntegratorName;
  d: number;
  kappa: number;
  dtau: number;
  mean: number;
  exact: number;
  error: number;
  se: number;
}

/** One (integrator, d, κ, dτ) cell; seeded by its settings. */
export function weakError(name: IntegratorName, d: number, kappa: number, dtau: number, o = { n: 1024, burn: 3, collect: 4, every: 1 }): WeakErrorRow {
  const beta = 2 / Math.max(d - 1, kappa);
  const etaN = (kappa * beta) / 2;
  const N = new Float32Array(o.n * d);
  for (let i = 0; i < o.n; i++) N[i * d] = etaN;
  const sde = new GuidedDrift({ fieldScale: 'raw', N, d, eta: 1, schedule: { kind: 'constant', betaMin: beta, betaMax: beta, T: 1e9 } });
  const rng = makeRng(`weak-error/${name}/${d}/${kappa}/${dtau}`);
  const Kb = Math.round(o.burn / dtau);
  const Kc = Math.round(o.collect / dtau);
  const sums = new Float64Array(o.n);
  let count = 0;
  integrateReverse(uniformSpinRows(o.n, d, rng), sde, {
    integrator: INTEGRATORS[name],
    steps: Kb + Kc,
    T: (Kb + Kc) * dtau,
    tMin: 0,
    rng,
    onStep: (k, _t, S) => {
      if (k <= Kb || k % o.every !== 0) return;
      for (let i = 0; i < o.n; i++) sums[i] += S[i * d];
      count++;
    },
  });
  sde.dispose();
  const means = Array.from(sums, (s) => s / count);
  const mean = means.reduce((a, b) => a + b, 0) / o.n;
  const se = Math.sqrt(means.reduce((a, b) => a + (b - mean) ** 2, 0) / (o.n - 1) / o.n);
  const exact = vmfMeanCos(d, kappa);
  return { integrator: name, d, kappa, dtau, mean, exact, error: mean - exact, se };
}

if (process.argv[1]?.endsWith('weak-error.ts')) {
  const i = process.argv.indexOf('--out');
  const out = i > 0 ? process.argv[i + 1] : 'docs/results/decisive';
  const rows: WeakErrorRow[] = [];
  for (const [d, kappa] of [
    [3, 2],
    [16, 10],
  ] as const) {
    for (const name of INTEGRATOR_NAMES) {
      for (const dtau of [0.4, 0.2, 0.1, 0.05]) {
        const r = weakError(name, d, kappa, dtau);
        rows.push(r);
        console.error(`${name} d=${d} κ=${kappa} dτ=${dtau}: error ${r.error.toExponential(2)} ± ${r.se.toExponential(1)}`);
      }
    }
  }
  mkdirSync(out, { recursive: true });
  const cols = ['integrator', 'd', 'kappa', 'dtau', 'mean', 'exact', 'error', 'se'] as const;
  writeFileSync(
    join(out, 'weak-error.csv'),
    [cols.join(','), ...rows.map((r) => cols.map((c) => (typeof r[c] === 'number' ? +(r[c] as number).toPrecision(6) : r[c])).join(','))].join('\n') + '\n',
  );
  const md = [
    '| integrator | d | κ | dτ | E[S·N̂] | A_d(κ) | weak error | s.e. |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.integrator} | ${r.d} | ${r.kappa} | ${r.dtau} | ${r.mean.toFixed(5)} | ${r.exact.toFixed(5)} | ${r.error >= 0 ? '+' : ''}${r.error.toExponential(2)} | ${r.se.toExponential(1)} |`,
    ),
  ];
  writeFileSync(join(out, 'weak-error.md'), md.join('\n') + '\n');
  console.error(`wrote ${join(out, 'weak-error.csv')} and weak-error.md`);
}
