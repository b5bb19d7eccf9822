/**
 * The Brownian (Euclidean) VP-DDPM baseline (training/euclidean.ts, sampling/euclidean.ts):
 *  - ᾱ(t) = exp(−∫β) in closed form for the linear schedule;
 *  - the reverse VP SDE with the EXACT ε of a Gaussian data law N(μ, s² I) ends in that law
 *    (mean and variance per coordinate, within Monte-Carlo and O(dτ) error);
 *  - with the exact ε of a one-point law at a token's scaled embedding, generation reads that token
 *    at every position (reverse SDE + Tweedie + nearest-embedding readout, end to end);
 *  - `spinbath train --space euclidean` trains and exports a loadable model whose validation
 *    ε-loss falls below that of ε ≡ 0, and `spinbath sample --space euclidean` runs on it; bad
 *    input gets one line and exit code 2.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { writeTruncatedTokenizer } from '../../src/data/bpe.js';
import { saveGpt2Checkpoint } from '../../src/model/checkpoint.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { makeRng } from '../../src/rng.js';
import { generateEuclidean, reverseVp } from '../../sampling/euclidean.js';
import { embedScaleOf, loadEuclidModel, vpVariance, type EuclidModel } from '../../src/score/euclid.js';
import { runCli } from '../helpers/cli.js';
import type { NoiseSchedule } from '../../src/core/schedules.js';
import { randomGpt2Weights } from '../helpers/tinyGpt2.js';

const VP: NoiseSchedule = { kind: 'linear', betaMin: 0.1, betaMax: 20, T: 1 };

beforeAll(async () => {
  await useBackend('wasm');
});

describe('VP schedule', () => {
  it('1 − ᾱ(t) = 1 − exp(−(β_min t + ½(β_max − β_min) t²/T))', () => {
    for (const t of [0.001, 0.1, 0.5, 1]) expect(vpVariance(VP, t)).toBeCloseTo(1 - Math.exp(-(0.1 * t + 0.5 * 19.9 * t * t)), 12);
  });
});

/** The exact ε of N(μ, s² I): ε*(x, t) = σ (x − √ᾱ μ)/(ᾱ s² + σ²), σ² = 1 − ᾱ. */
function gaussianEps(mu: Float32Array, s2: number) {
  return (x: tf.Tensor, t: number) => {
    const v = vpVariance(VP, t);
    const a = 1 - v;
    return tf.tidy(() => tf.mul(tf.sub(x, tf.mul(tf.tensor2d(mu, [1, mu.length]), Math.sqrt(a))), Math.sqrt(v) / (a * s2 + v)));
  };
}

describe('reverse VP SDE (Euler–Maruyama) with the exact score', () => {
  it('ends in the Gaussian data law N(μ, s² I): mean and variance per coordinate', () => {
    const d = 8;
    const n = 4000;
    const mu = Float32Array.from({ length: d }, (_, j) => (j % 2 ? 1.5 : -0.5));
    const s2 = 0.25;
    const x0 = reverseVp(gaussianEps(mu, s2), { d, schedule: VP, tMin: 1e-3 }, n, 400, makeRng('vp-gauss'));
    const X = x0.dataSync();
    x0.dispose();
    for (let j = 0; j < d; j++) {
      let m = 0;
      let q = 0;
      for (let i = 0; i < n; i++) m += X[i * d + j];
      m /= n;
      for (let i = 0; i < n; i++) q += (X[i * d + j] - m) ** 2;
      q /= n - 1;
      // Tweedie at t_min shrinks the variance by (ᾱs²/(ᾱs² + σ²))² ≈ 1; tolerance: 4 s.e. + O(dτ)
      expect(Math.abs(m - mu[j]), `mean ${j}: ${m}`).toBeLessThan(4 * Math.sqrt(s2 / n) + 0.02);
      expect(Math.abs(q - s2), `variance ${j}: ${q}`).toBeLessThan(4 * s2 * Math.sqrt(2 / n) + 0.02);
    }
  });
});

describe('generateEuclidean', () => {
  it('reads a one-point law at a token embedding back as that token at every position', async () => {
    const model = Gpt2Model.fromWeights(randomGpt2Weights({ vocab_size: 50257, n_positions: 16, n_embd: 16, n_layer: 1, n_head: 2 }, 3));
    const tokenizer = await loadTokenizer();
    try {
      const d = model.dModel;
      const WE = Float32Array.from(model.params().get('embed.W_E')!.dataSync());
      const c = embedScaleOf(WE, d);
      const target = 1234;
      const x0 = Float32Array.from({ length: d }, (_, j) => c * WE[target * d + j]);
      const meta = {
        format: 'spinbath-euclid/1',
        d,
        vocab: model.vocab,
        fieldSource: 'final',
        modelHash: 'test',
        schedule: VP,
        tMin: 1e-3,
        embedScale: c,
      } as EuclidModel['meta'];
      const exact = gaussianEps(x0, 0); // one-point law: ε* = (x − √ᾱ x₀)/σ
      const ddpm = { meta, eps: (x: tf.Tensor, t: number) => exact(x, t), dispose() {} } as unknown as EuclidModel;
      const res = await generateEuclidean({ model, tokenizer }, { promptIds: [[11, 12], [13]], tokens: 3, steps: 50, ddpm, samples: 2, seed: 5 });
      expect(res).toHaveLength(4);
      for (const r of res) {
        expect(r.tokens).toEqual([target, target, target]);
        for (const tr of r.trace) expect(tr.cosChosen).toBeGreaterThan(0.99);
      }
    } finally {
      model.dispose();
    }
  });
});

/** The CLI in-process (src/cli/main.ts): exit code, stdout, stderr. */
const run = runCli;

describe('spinbath train / sample --space euclidean', () => {
  const root = mkdtempSync(join(tmpdir(), 'sb-euclid-'));
  const lm = join(root, 'lm');
  const S = ['--backend', 'wasm', '--quiet'];
  const B = [...S, '--cache-dir', join(root, 'cache')];
  beforeAll(() => {
    saveGpt2Checkpoint(lm, randomGpt2Weights({ vocab_size: 257 + 256, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 2 }, 1), { dtype: 'F32' });
    writeTruncatedTokenizer(lm, 256);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('trains configs/score/tiny.json in R^d, exports a loadable model, and samples from it', async () => {
    const out = join(root, 'eu');
    const r = await run(['train', '--space', 'euclidean', '--config', 'configs/score/tiny.json', '--model', lm, '--out', out, '--json', ...B]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.space).toBe('euclidean');
    expect(j.steps).toBe(20);
    expect(j.final_val_loss).toBeLessThan(j.val_loss_zero); // ε ≡ 0 scores exactly 1
    const m = loadEuclidModel(out);
    expect(m.meta.d).toBe(16);
    m.dispose();
    const s = await run(['sample', '--space', 'euclidean', '--score', out, '--model', lm, '--prompt', 'ab', '--tokens', '3', '--steps', '5', '--json', ...S]);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).tokens).toHaveLength(3);
  }, 300_000);

  it('bad input: one line, exit 2, nothing on stdout', async () => {
    for (const args of [
      ['sample', '--space', 'euclidean', '--model', lm, '--prompt', 'a', ...S],
      ['sample', '--space', 'euclidean', '--score', join(root, 'eu'), '--eta', '1', '--model', lm, '--prompt', 'a', ...S],
      ['sample', '--space', 'plane', '--model', lm, '--prompt', 'a', ...S],
      ['train', '--space', 'euclidean', '--resume', '--config', 'configs/score/tiny.json', '--model', lm, '--out', join(root, 'x'), ...B],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
