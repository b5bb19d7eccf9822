/**
 * Stochastic Heun predictor–corrector for the Stratonovich SDE dS = a dτ + g P_S ∘ dW̄ on S^{d−1}
 * (BL Eq. 14 / B6). The scheme of García-Palacios & Lázaro, Phys. Rev. B 58,
 * 14937 (1998) for the stochastic LLG equation (Kloeden & Platen, "Numerical Solution of Stochastic
 * Differential Equations", 1992, Sec. 11.1 / 15.1): it converges to the Stratonovich solution
 * because the noise is evaluated at both ends of the step with the SAME increment ΔW̄,
 *
 *   f(S, τ)  = a(S, τ) dτ + g(τ) P_S ΔW̄
 *   S̃        = (S + f(S, τ)) / |·|                     predictor, renormalised to |S̃| = 1
 *   S'       = (S + ½[f(S, τ) + f(S̃, τ + dτ)]) / |·|    corrector, renormalised to |S'| = 1
 *
 * The renormalisations keep |S| = 1 to rounding (Sec. V D: "a final renormalization"); they act
 * along S only. Dividing S + f by √(1 + |f|²) with E|g P_S ΔW̄|² = (d−1) g² dτ is what produces the
 * curvature drift −½g²(d−1)S dτ of the Itô form, so no correction term is added. For the
 * deterministic part the scheme is the explicit trapezoidal rule: global error O(dτ²).
 */
import { axpy } from '../../src/core/kernels/rows.js';
import { retractRows } from '../../src/core/sphereRows.js';
import { scratch, type Integrator } from './types.js';

export const heun: Integrator = {
  name: 'heun',
  step(S, tau, dtau, sde, noise, out) {
    const len = S.length;
    const f0 = sde.increment(S, tau, dtau, noise, scratch('heun', 0, len)); // f(S, τ) [n·d]
    const Sp = retractRows(S, f0, 1, scratch('heun', 1, len), sde.d); // predictor S̃ = (S + f0)/|·|
    const f1 = sde.increment(Sp, tau + dtau, dtau, noise, scratch('heun', 2, len)); // f(S̃, τ + dτ), same ΔW̄
    axpy(f1, f0, 1); // f0 += f1
    return retractRows(S, f0, 0.5, out, sde.d); // corrector (S + ½(f0 + f1))/|·|
  },
};
