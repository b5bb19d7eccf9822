/**
 * HostScoreNet (src/score/networkHost.ts, WebAssembly SIMD) against the tfjs scoreForward through
 * NetScoreModel.score, on random weights whose biases and output matrix are perturbed so that
 * every term of the network matters: d = 16 and 128, widths 64 and 128, depths 1–3, conditioned
 * and not, silu and gelu (relu and tanh on a smaller grid, padded shapes too), t across
 * [tMin, T] and outside it. Also: tangency of the output, stale bindings, memory growth on rebind.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import type { NoiseSchedule } from '../../src/core/schedules.js';
import type { HostTensor } from '../../src/model/weights.js';
import { makeRng, normalArray } from '../../src/rng.js';
import { initParams, type Activation, type NetworkConfig } from '../../src/score/network.js';
import { HostScoreNet } from '../../src/score/networkHost.js';
import { NetScoreModel, type ScoreNetMeta } from '../../src/score/scoreNet.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const tMin = 0.02;
const norm = { logS2Min: Math.log(2e-4), logS2Max: Math.log(0.2), logNMean: 1, logNStd: 0.7 };
const T_VALUES = [0.001, tMin, 0.05, 0.2, 0.5, 0.9, 1, 1.7];

function schedule(d: number): NoiseSchedule {
  const k = 1 / (d - 1);
  return { kind: 'linear', betaMin: 0.01 * k, betaMax: 20 * k, T: 1 };
}

/** initParams with non-zero biases and an output matrix large enough that the score is O(1)·1/σ. */
function weights(c: NetworkConfig, seed: number): Map<string, HostTensor> {
  const host = initParams(c, seed);
  const rng = makeRng(`host-net-perturb/${seed}`);
  for (const [name, t] of host) {
    if (name.endsWith('.b')) t.data.set(normalArray(rng, t.data.length, 0.3));
    if (name === 'out.W') t.data.forEach((x, i, a) => (a[i] = x * 20));
  }
  return host;
}

function model(c: NetworkConfig, seed: number): NetScoreModel {
  const meta: ScoreNetMeta = {
    format: 'spinbath-score/1',
    d: c.d,
    vocab: 10,
    fieldSource: 'final',
    schedule: schedule(c.d),
    eta: 0.4,
    modelHash: 'test',
    tMin,
    fieldScaling: 'unit',
    network: c,
    norm,
    training: { steps: 0, objective: 'dsm', weighting: 'sigma2' },
  };
  return new NetScoreModel(meta, weights(c, seed));
}

/** n unit spin rows and raw fields with spread-out norms. */
function inputs(n: number, d: number, seed: string): { S: Float32Array; N: Float32Array } {
  const rng = makeRng(seed);
  const S = normalArray(rng, n * d);
  const N = normalArray(rng, n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += S[i * d + j] ** 2;
    const scale = Math.exp(1.5 * rng.normal());
    for (let j = 0; j < d; j++) {
      S[i * d + j] /= Math.sqrt(s);
      N[i * d + j] *= scale;
    }
  }
  return { S, N };
}

function tfjsScore(m: NetScoreModel, S: Float32Array, N: Float32Array, n: number, t: number): Float32Array {
  const d = m.meta.d;
  return tf.tidy(() => m.score(tf.tensor2d(S, [n, d]), tf.fill([n], t), tf.tensor2d(N, [n, d])).dataSync() as Float32Array);
}

/** Host vs tfjs at every t: max abs diff ≤ 1e-4·(1 + max|s|), and |S·s| ≤ 1e-5·|s| row by row. */
function checkParity(m: NetScoreModel, n: number, seed: string): void {
  const d = m.meta.d;
  const { S, N } = inputs(n, d, seed);
  const bound = m.bind(N, n);
  const out = new Float32Array(n * d);
  for (const t of T_VALUES) {
    bound.score(S, t, out);
    const ref = tfjsScore(m, S, N, n, t);
    let diff = 0;
    let big = 0;
    for (let i = 0; i < n * d; i++) {
      diff = Math.max(diff, Math.abs(out[i] - ref[i]));
      big = Math.max(big, Math.abs(ref[i]));
    }
    expect(diff, `t ${t}: max|s| ${big}`).toBeLessThanOrEqual(1e-4 * (1 + big));
    expect(big).toBeGreaterThan(1e-3); // the comparison is not vacuous
    for (let i = 0; i < n; i++) {
      let dot = 0;
      let mag = 0;
      for (let j = 0; j < d; j++) {
        dot += S[i * d + j] * out[i * d + j];
        mag += out[i * d + j] ** 2;
      }
      expect(Math.abs(dot)).toBeLessThanOrEqual(1e-5 * Math.sqrt(mag));
    }
    // ambient output: its tangent projection is the score
    const amb = new Float32Array(n * d);
    bound.score(S, t, amb, true);
    for (let i = 0; i < n; i++) {
      let c = 0;
      for (let j = 0; j < d; j++) c += S[i * d + j] * amb[i * d + j];
      for (let j = 0; j < d; j++) amb[i * d + j] -= c * S[i * d + j];
    }
    let adiff = 0;
    for (let i = 0; i < n * d; i++) adiff = Math.max(adiff, Math.abs(amb[i] - out[i]));
    expect(adiff, `ambient, t ${t}`).toBeLessThanOrEqual(1e-5 * (1 + big));
  }
  bound.dispose();
}

describe('HostScoreNet parity with scoreForward', () => {
  const cases: [number, number, number, boolean, Activation][] = [];
  for (const d of [16, 128])
    for (const width of [64, 128])
      for (const depth of [1, 2, 3])
        for (const condition of [true, false]) for (const activation of ['silu', 'gelu'] as const) cases.push([d, width, depth, condition, activation]);

  it.each(cases)('d %i, width %i, depth %i, condition %s, %s', (d, width, depth, condition, activation) => {
    const c: NetworkConfig = { d, width, depth, activation, timeEmbedding: 32, condition };
    const m = model(c, d * 1000 + width + depth);
    checkParity(m, 9, `in/${d}/${width}/${depth}/${condition}/${activation}`);
    m.dispose();
  });

  it.each([
    ['relu', 16, 64, 2, true, 16],
    ['tanh', 16, 64, 3, true, 16],
    ['silu', 6, 10, 3, true, 6], // padded: d and width not multiples of 4
    ['gelu', 7, 13, 2, false, 2],
    ['tanh', 5, 18, 2, true, 64],
  ] as [Activation, number, number, number, boolean, number][])(
    '%s, d %i, width %i, depth %i, condition %s, E %i',
    (activation, d, width, depth, condition, E) => {
      const m = model({ d, width, depth, activation, timeEmbedding: E, condition }, 7);
      checkParity(m, 5, `in/${activation}/${d}`);
      m.dispose();
    },
  );
});

describe('bindings', () => {
  const c: NetworkConfig = { d: 16, width: 64, depth: 2, activation: 'silu', timeEmbedding: 16, condition: true };

  it('a new bind invalidates the previous binding; dispose invalidates too', () => {
    const m = model(c, 1);
    const { S, N } = inputs(3, 16, 'stale');
    const out = new Float32Array(48);
    const b1 = m.bind(N, 3);
    b1.score(S, 0.3, out);
    const first = out.slice();
    const b2 = m.bind(N, 3);
    expect(() => b1.score(S, 0.3, out)).toThrow(/no longer live/);
    b2.score(S, 0.3, out);
    expect(Array.from(out)).toEqual(Array.from(first));
    b2.dispose();
    expect(() => b2.score(S, 0.3, out)).toThrow(/no longer live/);
    const b3 = m.bind(N, 3);
    m.dispose();
    expect(() => b3.score(S, 0.3, out)).toThrow(/no longer live/);
  });

  it('checks shapes', () => {
    const m = model(c, 1);
    const { S, N } = inputs(3, 16, 'shapes');
    expect(() => m.bind(N, 4)).toThrow(/field values/);
    const b = m.bind(N, 3);
    expect(() => b.score(S.subarray(16), 0.3, new Float32Array(48))).toThrow(/spin values/);
    expect(() => b.score(S, 0.3, new Float32Array(47))).toThrow(/out has/);
    expect(() => b.score(S, Number.NaN, new Float32Array(48))).toThrow(/not finite/);
    m.dispose();
  });

  it('stays correct when a larger bind grows the memory, and with the time cache warm', () => {
    const d = 128;
    const net = new HostScoreNet({ network: { ...c, d, width: 128 }, norm, schedule: schedule(d), tMin }, weights({ ...c, d, width: 128 }, 3));
    const m = model({ ...c, d, width: 128 }, 3);
    const small = inputs(2, d, 'grow-small');
    const out2 = new Float32Array(2 * d);
    net.bind(small.N, 2).score(small.S, 0.4, out2);
    const n = 3000; // ≈ 6 MiB of activations: the memory grows
    const big = inputs(n, d, 'grow-big');
    const b = net.bind(big.N, n);
    const out = new Float32Array(n * d);
    for (const t of [0.4, 0.4, 0.7]) {
      b.score(big.S, t, out);
      const ref = tfjsScore(m, big.S, big.N, n, t);
      let diff = 0;
      let mx = 0;
      for (let i = 0; i < n * d; i++) {
        diff = Math.max(diff, Math.abs(out[i] - ref[i]));
        mx = Math.max(mx, Math.abs(ref[i]));
      }
      expect(diff).toBeLessThanOrEqual(1e-4 * (1 + mx));
    }
    net.dispose();
    m.dispose();
  });
});
