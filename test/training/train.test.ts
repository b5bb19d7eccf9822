/**
 * Score training (training/train.ts): config validation, a one-point data set against the exact
 * heat-kernel score, exact resume, a non-finite loss stopping the run with the last checkpoint
 * kept, refusal of a run that does not match the model, and no tensor growth over a run.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { heatKernelScoreCoeff } from '../../src/core/heatKernel.js';
import { sigma2 } from '../../src/core/schedules.js';
import { geodesicRandomWalk, rowDot, tangentProject, uniformSpins } from '../../src/core/sphere.js';
import { UserError } from '../../src/errors.js';
import { loadSafetensors } from '../../src/model/safetensors.js';
import { makeRng } from '../../src/rng.js';
import { parseScoreConfig, type ScoreConfig } from '../../training/config.js';
import type { PairSet } from '../../training/fieldCache.js';
import { loadScoreModel } from '../../src/score/scoreNet.js';
import { trainScore, type TrainData } from '../../training/train.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const tmp = () => mkdtempSync(join(tmpdir(), 'sb-train-'));

function config(over: Record<string, unknown> = {}, training: Record<string, unknown> = {}): ScoreConfig {
  return parseScoreConfig(
    {
      field: { source: 'final', context: 8 },
      schedule: { kind: 'linear', beta_min: 0.1, beta_max: 10, T: 1, t_min: 0.01, units: 'per_dimension' },
      forward: { levels: 24, grid: 256 },
      target: { eta: 0.3 },
      network: { width: 16, depth: 2, time_embedding: 8 },
      training: { batch_size: 32, steps: 6, lr: 3e-3, warmup_steps: 1, eval_every: 3, eval_samples: 64, checkpoint_every: 2, ema_decay: 0.9, ...training },
      ...over,
    },
    'test config',
  );
}

/** A small conditioned data set: `points` random token spins, random fields. */
function data(d: number, points: number, n: number, seed: string): TrainData {
  const rng = makeRng(seed);
  const pairs = (k: number): PairSet => ({
    n: k,
    d,
    tokens: Int32Array.from({ length: k }, () => rng.int(points)),
    fields: Float32Array.from({ length: k * d }, () => rng.normal()),
  });
  return {
    train: pairs(n),
    validation: pairs(64),
    spins: uniformSpins(points, d, rng),
    identity: { modelHash: 'abc123', d, vocab: points, fieldSource: 'final' },
  };
}

describe('config validation', () => {
  const base = {
    field: { context: 8 },
    schedule: { kind: 'linear', beta_max: 1 },
    network: { width: 8, depth: 1 },
    training: { batch_size: 4, steps: 2, lr: 1e-3, eval_every: 1, checkpoint_every: 1 },
  };
  const bad = (raw: unknown) => {
    try {
      parseScoreConfig(raw, 'c.json');
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };
  it('names an unknown field and an out-of-range one, in one line', () => {
    expect(bad({ ...base, network: { ...base.network, widht: 3 } })).toMatch(/^c\.json: field network: unknown field\(s\) 'widht'/);
    expect(bad({ ...base, training: { ...base.training, lr: 2 } })).toMatch(/^c\.json: field training\.lr: must be ≤ 1$/);
    expect(bad({ ...base, field: { context: 8, stride: 9 } })).toMatch(/field\.stride: 9 exceeds field\.context 8/);
    expect(bad({ ...base, field: { context: 8, source: 'head:3' } })).toMatch(/field\.source: 'head:3' is not a field source/);
    expect(bad({ ...base, schedule: { kind: 'linear', beta_max: 1, t_min: 2 } })).toMatch(/schedule\.t_min/);
    expect(bad({ ...base, network: { ...base.network, time_embedding: 7 } })).toMatch(/time_embedding: 7 must be even/);
    for (const m of [bad({ ...base, extra: 1 })]) expect(m.split('\n')).toHaveLength(1);
    expect(parseScoreConfig(base, 'c.json').target.weighting).toBe('sigma2');
  });
});

describe('training', () => {
  it('on a one-point data set (no context field) learns the exact heat-kernel score: σ²-weighted relative error ≤ 2% on held-out (S_t, t) pairs', async () => {
    const d = 3;
    const cfg = config(
      { network: { width: 64, depth: 3, time_embedding: 16, condition: false }, forward: { levels: 96 } },
      {
        batch_size: 256,
        steps: 500,
        lr: 2e-3,
        min_lr: 1e-4,
        warmup_steps: 20,
        eval_every: 250,
        checkpoint_every: 1000,
        eval_samples: 512,
        ema_decay: 0.99,
      },
    );
    const spins = tf.tensor2d([[1, 0, 0]]);
    const one: PairSet = { n: 1, d, tokens: new Int32Array([0]), fields: null };
    const out = tmp();
    const rep = await trainScore({
      config: cfg,
      outDir: out,
      data: { train: one, validation: one, spins, identity: { modelHash: 'x', d, vocab: 1, fieldSource: 'final' } },
    });
    expect(rep.final_val_loss!).toBeLessThan(0.02 * rep.val_loss_zero);
    // held-out pairs from the geodesic random walk (not the training sampler); exact c from the eigen-series
    const model = await loadScoreModel(out);
    const rng = makeRng('held-out');
    const n = 1000;
    const S0 = tf.tile(spins, [n, 1]);
    const t = Float64Array.from({ length: n }, () => 0.01 + 0.99 * rng.uniform());
    const s2 = t.map((x) => sigma2(model.meta.schedule, x));
    const St = geodesicRandomWalk(S0, tf.tensor1d(Float32Array.from(s2)), 100, rng);
    const s = model.score(St, tf.tensor1d(Float32Array.from(t)), tf.zeros([n, d]));
    const u = tf.tidy(() => tf.squeeze(rowDot(St, S0), [1]).dataSync());
    const rel = tf.tidy(() => {
      const c = tf.tensor2d(
        Float32Array.from(u, (x, i) => heatKernelScoreCoeff(x, d, s2[i])),
        [n, 1],
      );
      const exact = tf.mul(c, tangentProject(St, S0));
      const lam = tf.tensor2d(Float32Array.from(s2), [n, 1]);
      const num = tf.sum(tf.mul(lam, tf.sum(tf.square(tf.sub(s, exact)), 1, true)));
      return tf.div(num, tf.sum(tf.mul(lam, tf.sum(tf.square(exact), 1, true)))).dataSync()[0];
    });
    expect(rel).toBeLessThan(0.02);
    model.dispose();
    tf.dispose([spins, S0, St, s]);
  });

  it('resumed after a stop, reproduces the uninterrupted run exactly (weights, EMA, Adam state, loss log); no tensor growth', async () => {
    const cfg = config();
    const dd = data(4, 12, 200, 'resume');
    const a = tmp();
    const full = await trainScore({ config: cfg, outDir: a, data: dd });
    expect(full.tensors_at_end).toBe(full.tensors_after_first_step);
    const b = tmp();
    const part = await trainScore({ config: cfg, outDir: b, data: dd, stopAfter: 3 });
    expect(part.stopped).toBe(true);
    await expect(trainScore({ config: cfg, outDir: b, data: dd })).rejects.toThrow(/already holds a score-training run .* --resume/);
    await trainScore({ config: cfg, outDir: b, data: dd, resume: true });
    for (const f of ['params.safetensors', 'ema.safetensors', 'optimizer.safetensors']) {
      const x = loadSafetensors(join(a, 'checkpoints', 'step-000006', f));
      const y = loadSafetensors(join(b, 'checkpoints', 'step-000006', f));
      for (const [k, t] of x) expect(Array.from(y.get(k)!.data)).toEqual(Array.from(t.data));
    }
    const la = JSON.parse(readFileSync(join(a, 'loss-log.json'), 'utf8'));
    const lb = JSON.parse(readFileSync(join(b, 'loss-log.json'), 'utf8'));
    expect(lb).toEqual(la);
    for (const f of ['score.json', 'score.safetensors', 'loss-curve.svg', 'report.json']) expect(existsSync(join(b, f))).toBe(true);
    dd.spins.dispose();
  });

  it('a non-finite loss stops at once with the step reported; the last good checkpoint is kept', async () => {
    const cfg = config();
    const dd = data(4, 12, 200, 'nan');
    const out = tmp();
    await expect(trainScore({ config: cfg, outDir: out, data: dd, faultInjection: { nanLossAtStep: 5 } })).rejects.toThrow(
      /^the training loss is NaN at step 5; training stopped — the last good checkpoint \(step 4\) is kept in .*step-000004/,
    );
    expect(JSON.parse(readFileSync(join(out, 'checkpoints', 'latest.json'), 'utf8')).step).toBe(4);
    expect(existsSync(join(out, 'score.json'))).toBe(false);
    // and it resumes from there
    const rep = await trainScore({ config: cfg, outDir: out, data: dd, resume: true });
    expect(rep.steps).toBe(6);
    dd.spins.dispose();
  });

  it('--resume refuses a model of another d, vocabulary, field source or weights, and a changed config', async () => {
    const cfg = config();
    const dd = data(4, 12, 200, 'mismatch');
    const out = tmp();
    await trainScore({ config: cfg, outDir: out, data: dd, stopAfter: 2 });
    const other = (over: Partial<TrainData['identity']>, d = 4): TrainData => ({
      ...data(d, over.vocab ?? 12, 50, 'o'),
      identity: { ...dd.identity, ...over, d },
    });
    await expect(trainScore({ config: cfg, outDir: out, data: other({}, 5), resume: true })).rejects.toThrow(
      /the model has d = 5 but the run .* was trained with d = 4/,
    );
    await expect(trainScore({ config: cfg, outDir: out, data: other({ vocab: 13 }), resume: true })).rejects.toThrow(/vocabulary of 13 .* used 12/);
    await expect(trainScore({ config: cfg, outDir: out, data: other({ fieldSource: 'layer:1' }), resume: true })).rejects.toThrow(
      /field source layer:1 differs from the run's final/,
    );
    await expect(trainScore({ config: cfg, outDir: out, data: other({ modelHash: 'zzz' }), resume: true })).rejects.toThrow(
      /is not the one the run .* was trained against/,
    );
    const changed = config({}, { lr: 1e-3 });
    await expect(trainScore({ config: changed, outDir: out, data: dd, resume: true })).rejects.toThrow(
      /the config differs from the checkpoint's in training\.lr/,
    );
    dd.spins.dispose();
  });

  it('trains with the sliced (Hutchinson) objective and the walk sampler', async () => {
    const cfg = config({ target: { eta: 0.3, objective: 'ssm' }, forward: { sampler: 'walk', substeps: 8, levels: 24, grid: 256 } }, { steps: 3 });
    const dd = data(4, 12, 100, 'ssm');
    const rep = await trainScore({ config: cfg, outDir: tmp(), data: dd });
    expect(rep.steps).toBe(3);
    expect(Number.isFinite(rep.final_val_loss!)).toBe(true);
    dd.spins.dispose();
  });
});
