/**
 * Spectral structure of the coupling W_eff: its symmetric part (a proper exchange interaction,
 * whose eigenvalues are the energies of aligned spin pairs) and antisymmetric part (a
 * Dzyaloshinskii–Moriya-like chiral coupling), plus the singular values of W_eff itself.
 * Linear algebra from ml-matrix; tensors in, plain numbers out.
 */
import * as tf from '@tensorflow/tfjs-core';
import { EigenvalueDecomposition, Matrix, SingularValueDecomposition } from 'ml-matrix';

/** W = W_s + W_a with W_s = (W + Wᵀ)/2 and W_a = (W − Wᵀ)/2. */
export function symmetricSplit(W: tf.Tensor): { symmetric: tf.Tensor; antisymmetric: tf.Tensor } {
  return tf.tidy(() => {
    const Wt = tf.transpose(W);
    return { symmetric: tf.mul(tf.add(W, Wt), 0.5), antisymmetric: tf.mul(tf.sub(W, Wt), 0.5) };
  });
}

/** The spectrum of W_eff: eigen-pairs of its symmetric part, frequencies of its antisymmetric part, singular values. */
export interface CouplingSpectrum {
  /** Eigenvalues of W_s, descending. */
  symmetricEigenvalues: number[];
  /** Eigenvectors of W_s as rows, in the same order. */
  symmetricEigenvectors: number[][];
  /** The ω ≥ 0 of the ±iω eigenvalue pairs of W_a, descending (a zero appears for odd d). */
  antisymmetricFrequencies: number[];
  /** Singular values of W_eff, descending. */
  singularValues: number[];
  /** ‖W_a‖_F / ‖W_eff‖_F: how chiral (non-reciprocal) the coupling is. */
  antisymmetricFraction: number;
}

function toMatrix(t: tf.Tensor): Matrix {
  const [r, c] = t.shape as number[];
  const data = t.dataSync();
  const rows: number[][] = [];
  for (let i = 0; i < r; i++) rows.push(Array.from(data.subarray(i * c, (i + 1) * c)));
  return new Matrix(rows);
}

/** Split W_eff into symmetric and antisymmetric parts and compute their eigenvalues and norms. */
export function couplingSpectrum(W: tf.Tensor): CouplingSpectrum {
  const [r, c] = W.shape as number[];
  if (r !== c) throw new RangeError(`couplingSpectrum needs a square W_eff, got ${r}×${c}`);
  const { symmetric, antisymmetric } = symmetricSplit(W);
  try {
    const Ws = toMatrix(symmetric);
    const Wa = toMatrix(antisymmetric);
    const evd = new EigenvalueDecomposition(Ws, { assumeSymmetric: true });
    const vals = evd.realEigenvalues;
    const vecs = evd.eigenvectorMatrix;
    const order = vals.map((_, i) => i).sort((a, b) => vals[b] - vals[a]);
    const eva = new EigenvalueDecomposition(Wa);
    const freqs = eva.imaginaryEigenvalues.map((x) => Math.abs(x)).sort((a, b) => b - a);
    const pairs: number[] = [];
    for (let i = 0; i < freqs.length; i += 2) pairs.push(freqs[i]);
    const svd = new SingularValueDecomposition(toMatrix(W), { computeLeftSingularVectors: false, computeRightSingularVectors: false });
    const fro = (m: Matrix) => Math.sqrt(m.to1DArray().reduce((s, x) => s + x * x, 0));
    const full = fro(toMatrix(W));
    return {
      symmetricEigenvalues: order.map((i) => vals[i]),
      symmetricEigenvectors: order.map((i) => vecs.getColumn(i)),
      antisymmetricFrequencies: pairs,
      singularValues: [...svd.diagonal].sort((a, b) => b - a),
      antisymmetricFraction: full === 0 ? 0 : fro(Wa) / full,
    };
  } finally {
    symmetric.dispose();
    antisymmetric.dispose();
  }
}
