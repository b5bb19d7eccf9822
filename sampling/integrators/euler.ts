/**
 * Geodesic Euler–Maruyama for dS = a dτ + g P_S ∘ dW̄ on S^{d−1} (BL Eq. 14 / B6):
 * one tangent step, retracted to the sphere by the exponential map (src/core/sphere.ts expMapRows),
 *
 *   S' = exp_S( a(S, τ) dτ + g(τ) P_S ΔW̄ ),   ΔW̄ ~ N(0, dτ I).
 *
 * No Itô–Stratonovich correction drift is added. In ambient coordinates the Itô form of the
 * Stratonovich noise g P_S ∘ dW carries the curvature drift −½ g² (d−1) S; here that drift is
 * realised by the retraction itself: the exponential map of a tangent Gaussian step is the
 * geodesic random walk (sphere.ts geodesicRandomWalk), whose E[cos|v|] = 1 − (d−1)h/2 + O(h²)
 * reproduces the radial contraction of Brownian motion on the sphere with generator ½g²Δ (Jørgensen,
 * "The central limit problem for geodesic random walks", 1975; the scheme of De Bortoli et al.,
 * "Riemannian score-based generative modelling", NeurIPS 2022). Adding −½g²(d−1)S dτ would count
 * it twice. Weak order 1 (also for the deterministic part: global error O(dτ)).
 */
import { expMapRows } from '../../src/core/sphereRows.js';
import { scratch, type Integrator } from './types.js';

export const euler: Integrator = {
  name: 'euler',
  step(S, tau, dtau, sde, noise, out) {
    const v = sde.increment(S, tau, dtau, noise, scratch('euler', 0, S.length)); // a dτ + g P_S ΔW̄, tangent [n·d]
    return expMapRows(S, v, out, sde.d);
  },
};
