/**
 * The spin-bath core: Eq. 1 energies against a direct sum, Boltzmann weights, context fields,
 * batched = one-at-a-time, a 768-dimensional case, the phase boundary geometry, the spectrum.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { boltzmannWeights, pairEnergy } from '../../src/core/attention.js';
import { biasedContextFirstOrder } from '../../src/core/bias.js';
import { contextFieldLastQuery, contextFieldMeanField, effectiveCoupling, logitGap, projectField, tokenScores } from '../../src/core/field.js';
import { boundaryLine2D, boundarySide, clipLine, phaseBoundary, signedDistance } from '../../src/core/phase.js';
import { peContextFirstOrder, sinusoidalPositions } from '../../src/core/positional.js';
import { couplingSpectrum } from '../../src/core/spectrum.js';
import { maxAbsDiff, randn, toArray } from '../helpers/tensors.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('Eq. 1 and the Boltzmann ensemble', () => {
  it('pair energies equal −Σ_ab S_ja W_ab S_ib computed by hand', () => {
    const d = 5;
    const S = randn([1, 4, d], 's');
    const WQ = randn([d, 3], 'q');
    const WK = randn([d, 3], 'k');
    const W = effectiveCoupling(WQ, WK, 2);
    const H = pairEnergy(S, S, W).arraySync() as number[][][];
    const s = S.arraySync() as number[][][];
    const wq = WQ.arraySync() as number[][];
    const wk = WK.arraySync() as number[][];
    for (let j = 0; j < 4; j++) {
      for (let i = 0; i < 4; i++) {
        let e = 0;
        for (let a = 0; a < d; a++) for (let c = 0; c < d; c++) for (let h = 0; h < 3; h++) e += s[0][j][a] * wq[a][h] * wk[c][h] * s[0][i][c];
        expect(H[0][j][i]).toBeCloseTo(-e / 2, 4);
      }
    }
  });

  it('Boltzmann weights are normalised, respect the causal mask, and follow exp(−H/T)', () => {
    const H = randn([2, 5, 5], 'H');
    const sig = boltzmannWeights(H, { temperature: 0.5, causal: true });
    const s = sig.arraySync() as number[][][];
    const h = H.arraySync() as number[][][];
    for (let b = 0; b < 2; b++) {
      for (let j = 0; j < 5; j++) {
        expect(s[b][j].reduce((a, x) => a + x, 0)).toBeCloseTo(1, 5);
        for (let i = j + 1; i < 5; i++) expect(s[b][j][i]).toBeLessThan(1e-12);
        // ratio of two visible weights is exp(−(H_a − H_b)/T)
        if (j >= 1) expect(s[b][j][0] / s[b][j][1]).toBeCloseTo(Math.exp(-(h[b][j][0] - h[b][j][1]) / 0.5), 3);
      }
    }
  });

  it('the mean field N⁽⁰⁾ is the sum of per-query ensemble averages; last-query form is α·V', () => {
    const S = randn([1, 3, 4], 'mf');
    const W = tf.eye(4);
    const N = toArray(contextFieldMeanField(S, W));
    const s = S.arraySync() as number[][][];
    const manual = [0, 0, 0, 0];
    for (let j = 0; j < 3; j++) {
      const logits = [0, 1, 2].map((i) => s[0][j].reduce((a, x, c) => a + x * s[0][i][c], 0));
      const z = logits.map(Math.exp);
      const Z = z.reduce((a, b) => a + b, 0);
      for (let i = 0; i < 3; i++) for (let c = 0; c < 4; c++) manual[c] += (z[i] / Z) * s[0][i][c];
    }
    N.forEach((x, c) => expect(x).toBeCloseTo(manual[c], 5));
    const alpha = tf.tensor2d([[0.2, 0.3, 0.5]]);
    const V = randn([1, 3, 4], 'V');
    const N0 = toArray(contextFieldLastQuery(alpha, V));
    const v = V.arraySync() as number[][][];
    N0.forEach((x, c) => expect(x).toBeCloseTo(0.2 * v[0][0][c] + 0.3 * v[0][1][c] + 0.5 * v[0][2][c], 5));
    const WO = randn([4, 6], 'WO');
    const Np = projectField(tf.tensor2d([N0]), WO);
    const E = randn([2, 6], 'E');
    const gap = logitGap(Np, tf.slice(E, [0, 0], [1, 6]), tf.slice(E, [1, 0], [1, 6])).dataSync()[0];
    const sc = tokenScores(Np, E).dataSync();
    expect(gap).toBeCloseTo(sc[0] - sc[1], 4);
  });
});

describe('batched computations and dimension', () => {
  it('a batch equals its members run one at a time (field, Eq. 3, Eq. 4)', () => {
    const d = 12;
    const S = randn([4, 7, d], 'batch', 0.3);
    const W = randn([d, d], 'bw', 0.3);
    const delta = randn([d, d], 'bd', 0.3);
    const P = sinusoidalPositions(7, d);
    const fns = [
      (x: tf.Tensor) => contextFieldMeanField(x, W, { causal: true }),
      (x: tf.Tensor) => biasedContextFirstOrder(x, W, delta, 0.05),
      (x: tf.Tensor) => peContextFirstOrder(x, W, P, 0.1),
    ];
    for (const f of fns) {
      const all = f(S);
      for (let i = 0; i < 4; i++) {
        const one = f(tf.slice(S, [i, 0, 0], [1, 7, d]));
        expect(maxAbsDiff(tf.slice(all, [i, 0], [1, d]), one)).toBeLessThan(1e-5);
      }
    }
  });

  it('a 768-dimensional random bath runs through every core form (no hidden d = 3 assumption)', () => {
    const d = 768;
    const S = randn([2, 10, d], 'big', 1 / Math.sqrt(d));
    const W = randn([d, d], 'bigW', 1 / Math.sqrt(d));
    const delta = randn([d, d], 'bigD', 1 / Math.sqrt(d));
    const N = contextFieldMeanField(S, W);
    expect(N.shape).toEqual([2, d]);
    const N1 = biasedContextFirstOrder(S, W, delta, 0.01);
    const N2 = peContextFirstOrder(S, W, sinusoidalPositions(10, d), 0.05);
    for (const t of [N, N1, N2]) expect(toArray(t).every(Number.isFinite)).toBe(true);
    tf.dispose([S, W, delta, N, N1, N2]);
  });
});

describe('phase boundary', () => {
  it('is the hyperplane through the best good token with normal N', () => {
    const n = [1, 2, -1];
    const good = [
      [0.1, 0.1, 0.1],
      [0.5, 0.2, 0.0],
    ];
    const bd = phaseBoundary(n, good);
    expect(bd.bestGood).toBe(1);
    expect(bd.offset).toBeCloseTo(0.9, 12);
    expect(signedDistance(bd, good[1])).toBeCloseTo(0, 12);
    expect(boundarySide(bd, [1, 1, 0])).toBe('bad');
    expect(signedDistance(bd, [0, 0, 0])).toBeCloseTo(-0.9 / Math.sqrt(6), 12);
    // In the slice p0 + s·u + t·v every point of the clipped line lies on the hyperplane.
    const p0 = [0.4, 0, 0];
    const line = boundaryLine2D(bd, p0, [0, 1, 0], [0, 0, 1]);
    const seg = clipLine(line, -2, 2, -2, 2)!;
    for (const [s, t] of seg) expect(signedDistance(bd, [0.4, s, t])).toBeCloseTo(0, 10);
  });
});

describe('coupling spectrum', () => {
  it('splits W into symmetric and antisymmetric parts with consistent spectra', () => {
    const d = 6;
    const W = randn([d, d], 'spec');
    const sp = couplingSpectrum(W);
    const w = W.arraySync() as number[][];
    // trace of W_s = sum of its eigenvalues
    const trace = w.reduce((a, row, i) => a + row[i], 0);
    expect(sp.symmetricEigenvalues.reduce((a, b) => a + b, 0)).toBeCloseTo(trace, 4);
    // ‖W‖_F² = Σ σ_i²
    const fro2 = w.flat().reduce((a, x) => a + x * x, 0);
    expect(sp.singularValues.reduce((a, s) => a + s * s, 0)).toBeCloseTo(fro2, 3);
    // ‖W_a‖_F² = 2 Σ ω²
    const fa2 = w.reduce((a, row, i) => a + row.reduce((b, x, j) => b + ((x - w[j][i]) / 2) ** 2, 0), 0);
    expect(2 * sp.antisymmetricFrequencies.reduce((a, o) => a + o * o, 0)).toBeCloseTo(fa2, 3);
    // eigenvectors: W_s v = λ v
    const ws = w.map((row, i) => row.map((x, j) => (x + w[j][i]) / 2));
    const v = sp.symmetricEigenvectors[0];
    const wv = ws.map((row) => row.reduce((a, x, j) => a + x * v[j], 0));
    wv.forEach((x, i) => expect(x).toBeCloseTo(sp.symmetricEigenvalues[0] * v[i], 4));
  });
});
