/**
 * Residual-score objectives (training/objectives.ts) and the network's output (src/score/network.ts):
 * sliced (Hutchinson) score matching and DSM differ by the known constant E[λ|c P_{S_t} S_0|²]/(d−1)
 * for every field (a Stein identity on the sphere), DSM of the exact score of a one-point data set
 * is 0 while its SSM is −E[λ|∇log q|²]/(d−1), the Hutchinson divergence matches an analytic one,
 * and the network's output is tangent (|S·s| ≤ 1e-5).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { rowDot, tangentGaussian, tangentProject, uniformSpins } from '../../src/core/sphere.js';
import { makeRng } from '../../src/rng.js';
import { makeBatch, type BatchSpec } from '../../training/batch.js';
import type { PairSet } from '../../training/fieldCache.js';
import { tableForSchedule } from '../../training/forward.js';
import { initParams, scoreForward, uploadParams, type FeatureNorm, type NetworkConfig } from '../../src/score/network.js';
import { dsmPerRow, ssmPerRow } from '../../training/objectives.js';
import { loadScoreModel, saveScoreModel, type ScoreNetMeta } from '../../src/score/scoreNet.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

beforeAll(async () => {
  await useBackend('wasm');
});

const d = 8;
const schedule = { kind: 'linear' as const, betaMin: 0.01 / (d - 1), betaMax: 20 / (d - 1), T: 1 };
const tMin = 0.05;
const norm: FeatureNorm = { logS2Min: Math.log(1e-4), logS2Max: Math.log(1.5), logNMean: 0.5, logNStd: 0.7 };
const net: NetworkConfig = { d, width: 32, depth: 2, activation: 'silu', timeEmbedding: 8, condition: true };

function meanSe(x: ArrayLike<number>): { mean: number; se: number } {
  const n = x.length;
  let m = 0;
  for (let i = 0; i < n; i++) m += x[i];
  m /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i] - m) ** 2;
  return { mean: m, se: Math.sqrt(v / (n - 1) / n) };
}

/** A data set of `points` token spins with random fields, and a batch of n pairs with η = 0.4. */
async function setup(points: number, n: number, seed: string, eta = 0.4) {
  const rng = makeRng(seed);
  const spins = uniformSpins(points, d, rng);
  const fields = Float32Array.from({ length: n * d }, () => 2 * rng.normal());
  const pairs: PairSet = { n, d, tokens: Int32Array.from({ length: n }, (_, i) => i % points), fields };
  const table = tableForSchedule(d, schedule, tMin, { levels: 48, grid: 512 });
  const spec: BatchSpec = { spins, schedule, tMin, eta, weighting: 'sigma2', condition: true, noise: { sampler: 'exact', table }, hutchinsonStep: 0.02 };
  const batch = await makeBatch(
    spec,
    pairs,
    Int32Array.from({ length: n }, (_, i) => i),
    rng,
  );
  return { spins, batch, table, rng };
}

describe('Hutchinson sliced score matching against DSM', () => {
  it('DSM(s) − SSM(s) = E[λ|c P_{S_t} S_0|²]/(d−1) within 3 standard errors for s ≡ 0, a random network and an analytic field (η = 0.4, 5 tokens)', async () => {
    const n = 6000;
    const { spins, batch: b } = await setup(5, n, 'stein');
    const params = uploadParams(initParams(net, 3), 'frozen');
    const mu = tf.tensor2d(
      Float32Array.from({ length: d }, (_, i) => (i === 1 ? 2 : 0.3)),
      [1, d],
    );
    const fields: [string, (S: tf.Tensor) => tf.Tensor][] = [
      ['zero', (S) => tf.zerosLike(S)],
      ['network', (S) => scoreForward(net, norm, params, { ...b.inputs, S })],
      ['κ P_S μ', (S) => tangentProject(S, tf.tile(mu, [S.shape[0] as number, 1]))],
    ];
    const hk = tf.tidy(() => tf.squeeze(tf.div(tf.mul(b.lambda, tf.sum(tf.square(tf.mul(b.coeff, tangentProject(b.inputs.S, b.S0))), -1, true)), d - 1), [1]));
    for (const [name, f] of fields) {
      const diff = tf.tidy(() => {
        const dsm = dsmPerRow(f(b.inputs.S), b.target, b.lambda);
        const ssm = ssmPerRow(f, { S: b.inputs.S, lambda: b.lambda, v: b.probe!, h: b.step!, Nhat: b.inputs.Nhat, etaOverBeta: b.etaOverBeta });
        return tf.sub(tf.sub(dsm, ssm), hk).dataSync();
      });
      const { mean, se } = meanSe(diff);
      expect(Math.abs(mean), `${name}: ${mean} (se ${se})`).toBeLessThan(3 * se);
      expect(se).toBeLessThan(0.05); // the check has power
    }
    tf.dispose([spins, mu, hk]);
    for (const p of params.values()) p.dispose();
    b.dispose();
  });

  it('one-point data (η = 0): DSM of the exact score is 0 and its SSM is −E[λ|∇log q|²]/(d−1)', async () => {
    const n = 6000;
    const { spins, batch: b, table } = await setup(1, n, 'one-point', 0);
    const s2 = b.times.sigma2;
    // the exact score field S ↦ c(S·S_0, σ²) P_S S_0 (host c from the table)
    const exact = (S: tf.Tensor) => {
      const u = tf.tidy(() => tf.squeeze(rowDot(S, tf.tile(spins, [n, 1])), [1]).dataSync());
      const c = tf.tensor2d(
        Float32Array.from(u, (x, i) => table.coeff(s2[i], Math.acos(Math.max(-1, Math.min(1, x))))),
        [n, 1],
      );
      return tf.tidy(() => tf.mul(c, tangentProject(S, tf.tile(spins, [n, 1]))));
    };
    const dsm = tf.tidy(() => dsmPerRow(exact(b.inputs.S), b.target, b.lambda).dataSync());
    expect(Math.max(...Array.from(dsm, Math.abs))).toBeLessThan(1e-6 * Math.max(1, meanSe(dsm).mean) + 1e-4);
    const ssm = tf.tidy(() => ssmPerRow(exact, { S: b.inputs.S, lambda: b.lambda, v: b.probe!, h: b.step! }).dataSync());
    const fisher = tf.tidy(() => tf.squeeze(tf.div(tf.mul(b.lambda, tf.sum(tf.square(b.target), -1, true)), d - 1), [1]).dataSync());
    const { mean, se } = meanSe(Float64Array.from(ssm, (x, i) => x + fisher[i]));
    expect(Math.abs(mean), `${mean} (se ${se})`).toBeLessThan(3 * se);
    expect(meanSe(fisher).mean).toBeGreaterThan(10 * se);
    spins.dispose();
    b.dispose();
  });

  it('the Hutchinson finite-difference divergence of P_S μ matches −(d−1) S·μ', () => {
    const n = 4000;
    const rng = makeRng('div');
    const S = uniformSpins(n, d, rng);
    const v = tangentGaussian(S, 1, rng);
    const h = tf.fill([n, 1], 0.01);
    const mu = tf.tile(tf.tensor2d([[0.5, -1, 0.2, 0, 0, 0, 0, 0.7]]), [n, 1]);
    const lambda = tf.ones([n, 1]);
    // ssm = (|P_S μ|² + 2 div)/(d−1) per row; subtract the analytic value
    const err = tf.tidy(() => {
      const ssm = ssmPerRow((X) => tangentProject(X, mu), { S, lambda, v, h });
      const analytic = tf.div(tf.add(tf.sum(tf.square(tangentProject(S, mu)), -1), tf.mul(tf.squeeze(rowDot(S, mu), [1]), -2 * (d - 1))), d - 1);
      return tf.sub(ssm, analytic).dataSync();
    });
    const { mean, se } = meanSe(err);
    expect(Math.abs(mean)).toBeLessThan(3 * se);
    tf.dispose([S, v, h, mu, lambda]);
  });
});

describe('network output', () => {
  it('is tangent: |S·s| ≤ 1e-5 where |s| ≤ 100 and ≤ 1e-5·|s| everywhere, also with large output weights; the saved model gives the same scores', async () => {
    const n = 2000;
    const rng = makeRng('tangent');
    const S = uniformSpins(n, d, rng);
    const t = Float32Array.from({ length: n }, () => tMin + (1 - tMin) * rng.uniform());
    const N = tf.mul(uniformSpins(n, d, rng), 3);
    const host = initParams(net, 5);
    host.get('out.W')!.data.forEach((x, i, a) => (a[i] = x * 300));
    const meta: ScoreNetMeta = {
      format: 'spinbath-score/1',
      d,
      vocab: 10,
      fieldSource: 'final',
      schedule,
      eta: 0.4,
      modelHash: 'test',
      tMin,
      fieldScaling: 'unit',
      network: net,
      norm,
      training: { steps: 0, objective: 'dsm', weighting: 'sigma2' },
    };
    const dir = mkdtempSync(join(tmpdir(), 'sb-score-'));
    saveScoreModel(dir, meta, host);
    const model = await loadScoreModel(dir);
    const s = model.score(S, tf.tensor1d(t), N);
    const dot = tf.tidy(() => tf.abs(tf.squeeze(rowDot(S, s), [1])).dataSync());
    const mag = tf.tidy(() => tf.norm(s, 'euclidean', -1).dataSync());
    let large = 0;
    for (let i = 0; i < n; i++) {
      if (mag[i] <= 100) expect(dot[i]).toBeLessThanOrEqual(1e-5);
      else large++;
      expect(dot[i]).toBeLessThanOrEqual(1e-5 * Math.max(1, mag[i]));
    }
    expect(large).toBeGreaterThan(0); // the relative bound was exercised
    expect(Math.max(...mag)).toBeGreaterThan(1);
    model.dispose();
    tf.dispose([S, N, s]);
  });
});
