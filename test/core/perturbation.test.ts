/**
 * First-order bias (Eqs. 2–3) and positional-encoding (Eqs. 4–5) forms against exact recomputation.
 * A first-order form has an O(ε²) error, so halving ε must divide the error by about 4.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { biasCoupling, biasedContextExact, biasedContextFirstOrder, biasedHamiltonianExact, biasedHamiltonianFirstOrder } from '../../src/core/bias.js';
import { peContextExact, peContextFirstOrder, peHamiltonianEq5, peHamiltonianExact, sinusoidalPositions } from '../../src/core/positional.js';
import { pairEnergy } from '../../src/core/attention.js';
import { maxAbsDiff, randn } from '../helpers/tensors.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const d = 16;
const k = 6;
const b = 3;
// Unit-scale spins and couplings so the perturbation series is well behaved.
const S = () => randn([b, k, d], 'spins', 1 / Math.sqrt(d));
const W = () => randn([d, d], 'coupling', 1);
const deltaGeneral = () => randn([d, d], 'delta', 1 / Math.sqrt(d));

/** Errors at ε, ε/2, ε/4 and the ratios between successive ones. */
function ratios(err: (eps: number) => number, eps0: number): { errs: number[]; r: number[] } {
  const errs = [eps0, eps0 / 2, eps0 / 4].map(err);
  return { errs, r: [errs[0] / errs[1], errs[1] / errs[2]] };
}

describe('bias B = I + ξδ', () => {
  it('Eq. 2 (first-order Hamiltonian) converges to the exact one at second order', () => {
    const s = S();
    const w = W();
    const dl = deltaGeneral();
    const { errs, r } = ratios((xi) => maxAbsDiff(biasedHamiltonianFirstOrder(s, w, dl, xi), biasedHamiltonianExact(s, w, dl, xi)), 0.08);
    expect(errs[0]).toBeGreaterThan(1e-5); // the error is real, not float noise
    for (const x of r) {
      expect(x).toBeGreaterThan(3.5);
      expect(x).toBeLessThan(4.5);
    }
  });

  it('Eq. 3 (first-order context vector) converges to the exact one at second order, with causal mask and T ≠ 1 too', () => {
    const s = S();
    const w = W();
    const dl = deltaGeneral();
    for (const opts of [{}, { causal: true, temperature: 0.7, tau: 2 }]) {
      const { errs, r } = ratios((xi) => maxAbsDiff(biasedContextFirstOrder(s, w, dl, xi, opts), biasedContextExact(s, w, dl, xi, opts)), 0.08);
      expect(errs[0]).toBeGreaterThan(1e-5);
      for (const x of r) {
        expect(x).toBeGreaterThan(3.4);
        expect(x).toBeLessThan(4.6);
      }
    }
  });

  it("for antisymmetric δ the coupling M equals the paper's printed δW − Wδ", () => {
    const a = deltaGeneral();
    const anti = tf.sub(a, tf.transpose(a));
    const w = W();
    const paper = tf.sub(tf.matMul(anti, w), tf.matMul(w, anti));
    expect(maxAbsDiff(biasCoupling(w, anti), paper)).toBeLessThan(1e-5);
  });
});

describe('positional encoding S → (1 − y) S + y P', () => {
  it('Eq. 4 (first-order context vector) converges to the exact one at second order', () => {
    const s = S();
    const w = W();
    const P = sinusoidalPositions(k, d, { base: 10000 });
    const { errs, r } = ratios((y) => maxAbsDiff(peContextFirstOrder(s, w, P, y), peContextExact(s, w, P, y)), 0.04);
    expect(errs[0]).toBeGreaterThan(1e-5);
    for (const x of r) {
      expect(x).toBeGreaterThan(3.4);
      expect(x).toBeLessThan(4.6);
    }
  });

  it('Eq. 5 equals the exact PE Hamiltonian when W_eff = I (even and odd d)', () => {
    for (const dim of [16, 3]) {
      const s = randn([2, 5, dim], `pe${dim}`, 0.5);
      const I = tf.eye(dim);
      for (const y of [0.1, 0.5, 0.9]) {
        const P = sinusoidalPositions(5, dim, { base: 1000 });
        const exact = peHamiltonianExact(s, I, P, y);
        const closed = peHamiltonianEq5(s, I, y, 1, { base: 1000 });
        expect(maxAbsDiff(exact, closed)).toBeLessThan(1e-5);
      }
    }
  });

  it('Eq. 5 differs from the exact Hamiltonian for a general W_eff (its cosine sum assumes W_eff = I)', () => {
    const s = randn([1, 5, 16], 'peW', 0.5);
    const w = W();
    const P = sinusoidalPositions(5, 16);
    expect(maxAbsDiff(peHamiltonianExact(s, w, P, 0.5), peHamiltonianEq5(s, w, 0.5))).toBeGreaterThan(1e-2);
    // y = 0 reduces both to H⁽⁰⁾.
    expect(maxAbsDiff(peHamiltonianEq5(s, w, 0), pairEnergy(s, s, w))).toBeLessThan(1e-5);
  });

  it('sinusoidal positions follow Vaswani et al. component by component', () => {
    const P = sinusoidalPositions(4, 6, { base: 10000, start: 0 }).arraySync() as number[][];
    for (let i = 0; i < 4; i++) {
      for (let m = 0; m < 3; m++) {
        const w = 1 / Math.pow(10000, (2 * m) / 6);
        expect(P[i][2 * m]).toBeCloseTo(Math.sin(i * w), 6);
        expect(P[i][2 * m + 1]).toBeCloseTo(Math.cos(i * w), 6);
      }
    }
  });
});
