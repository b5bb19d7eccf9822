/**
 * Section `score`: residual-score training (training/, Eqs. 12–14) — training samples/s of the
 * brown-small config's network (d = 128, width 512, depth 3, batch 512; synthetic pairs over a
 * vocabulary of 8257 token spins), its matmul GFLOP/s against the backend's matmul reference, the
 * time split of one step (batch construction, forward + backward, Adam + EMA), and the field-cache
 * build time per 1000 corpus tokens for the embedded model (when models/brown-small exists) on the
 * default inference engine. The GPT-2-small-shaped field cache on both engines: section `engines`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readData } from '../src/backend.js';
import { ensureGradients } from '../src/core/gradients.js';
import { uniformSpins } from '../src/core/sphere.js';
import { AdamW } from '../src/lm/optim.js';
import { embeddedModelDir, loadModel } from '../src/model/load.js';
import { packageRoot } from '../src/model/tokenizer.js';
import { makeRng } from '../src/rng.js';
import { drawIndices, makeBatch, stepRng, type BatchSpec } from '../training/batch.js';
import { absoluteSchedule, loadScoreConfig } from '../training/config.js';
import type { PairSet } from '../training/fieldCache.js';
import { tableForSchedule } from '../training/forward.js';
import { forwardFlopsPerRow, initParams, scoreForward, uploadParams, type NetworkConfig } from '../src/score/network.js';
import { dsmLoss } from '../training/objectives.js';
import { median, target, type BenchContext, type BenchRow, type BenchTarget, type Section } from './common.js';
import { fieldCacheSecondsPer1000 } from './engines.js';
import { matmulFigures } from './matmul.js';

export interface ScoreStepFigures {
  batch: number;
  width: number;
  samplesPerS: number;
  gflops: number;
  /** Median over rounds of (training GFLOP/s) / (1024³ matmul GFLOP/s measured in the same round). */
  fraction: number;
  referenceGflops: number;
  ms: { batch: number; grad: number; update: number; total: number };
  flopsPerSample: number;
}

/** GFLOP/s of one 1024×1024×1024 tf.matMul (the bench reference shape), timed once. */
async function referenceOnce(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const t0 = performance.now();
  const c = tf.matMul(a, b);
  await readData(c);
  const ms = performance.now() - t0;
  c.dispose();
  return (2 * 1024 ** 3) / ms / 1e6;
}

/**
 * Median timings of `steps` training steps (after 3 warm-ups) of the config's network on synthetic
 * data, each step followed by one reference matmul, so that the fraction of the matmul rate is a
 * ratio taken under the same machine load (other processes share the CPU).
 */
export async function measureTraining(
  configPath: string,
  d: number,
  vocab: number,
  steps: number,
  over: { batch?: number; width?: number } = {},
): Promise<ScoreStepFigures> {
  await ensureGradients();
  const cfg = loadScoreConfig(configPath);
  const B = over.batch ?? cfg.training.batch_size;
  const rng = makeRng('bench-score');
  const spins = uniformSpins(vocab, d, rng);
  const n = 50000;
  const pairs: PairSet = {
    n,
    d,
    tokens: Int32Array.from({ length: n }, () => rng.int(vocab)),
    fields: Float32Array.from({ length: n * d }, () => rng.normal()),
  };
  const schedule = absoluteSchedule(cfg, d);
  const table = tableForSchedule(d, schedule, cfg.schedule.t_min, { levels: cfg.forward.levels, grid: cfg.forward.grid });
  const net: NetworkConfig = {
    d,
    width: over.width ?? cfg.network.width,
    depth: cfg.network.depth,
    activation: cfg.network.activation,
    timeEmbedding: cfg.network.time_embedding,
    condition: true,
  };
  const norm = { logS2Min: -10, logS2Max: 0, logNMean: 0, logNStd: 1 };
  const params = uploadParams(initParams(net, 0), 'trainable') as Map<string, tf.Variable>;
  const ema = uploadParams(initParams(net, 0), 'state') as Map<string, tf.Variable>;
  const opt = new AdamW(params, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 1 });
  const spec: BatchSpec = {
    spins,
    schedule,
    tMin: cfg.schedule.t_min,
    eta: cfg.target.eta,
    weighting: cfg.target.weighting,
    condition: true,
    noise: { sampler: 'exact', table },
  };
  const names = [...params.keys()];
  const vars = names.map((k) => params.get(k)!);
  const t = { batch: [] as number[], grad: [] as number[], update: [] as number[], total: [] as number[] };
  const ratios: number[] = [];
  const refs: number[] = [];
  const ra = tf.randomNormal([1024, 1024], 0, 1, 'float32', 1);
  const rb = tf.randomNormal([1024, 1024], 0, 1, 'float32', 2);
  const flopsPerSample = 3 * forwardFlopsPerRow(net);
  try {
    for (let s = 0; s < steps + 3; s++) {
      const t0 = performance.now();
      const r = stepRng(0, s);
      const b = await makeBatch(spec, pairs, drawIndices(r, n, B), r);
      await readData(b.target);
      const t1 = performance.now();
      const { value, grads } = tf.variableGrads(() => dsmLoss(scoreForward(net, norm, params, b.inputs), b.target, b.lambda) as tf.Scalar, vars);
      await readData(value);
      const t2 = performance.now();
      tf.dispose(Object.values(opt.update(new Map(names.map((k, i) => [k, grads[vars[i].name]])), 1e-4)));
      tf.tidy(() => {
        for (const [k, e] of ema) e.assign(tf.add(tf.mul(e, 0.999), tf.mul(params.get(k)!, 0.001)));
      });
      await readData(ema.get('out.b')!);
      const t3 = performance.now();
      tf.dispose([value, ...Object.values(grads)]);
      b.dispose();
      const ref = await referenceOnce(ra, rb);
      if (s >= 3) {
        t.batch.push(t1 - t0);
        t.grad.push(t2 - t1);
        t.update.push(t3 - t2);
        t.total.push(t3 - t0);
        refs.push(ref);
        ratios.push((B * flopsPerSample) / (t3 - t0) / 1e6 / ref);
      }
    }
  } finally {
    tf.dispose([ra, rb]);
    opt.dispose();
    for (const v of [...params.values(), ...ema.values()]) v.dispose();
    spins.dispose();
  }
  const total = median(t.total);
  return {
    batch: B,
    width: net.width,
    samplesPerS: (B * 1000) / total,
    gflops: (B * flopsPerSample) / total / 1e6,
    flopsPerSample,
    fraction: median(ratios),
    referenceGflops: median(refs),
    ms: { batch: median(t.batch), grad: median(t.grad), update: median(t.update), total },
  };
}

export const scoreSection: Section = {
  name: 'score',
  description: 'score training samples/s and GFLOP/s vs matmul; field-cache build s per 1000 tokens',
  async run(ctx: BenchContext) {
    const ref = (await matmulFigures(ctx)).reference;
    const rows: BenchRow[] = [];
    const targets: BenchTarget[] = [];
    const data: Record<string, unknown> = { reference_gflops: ref };
    // The matmul-efficiency target is taken at width 512, where the network's products dominate a
    // step; the shipped config's small network (sized for the sampler's inner loop) is reported
    // alongside: more samples/s, lower GFLOP/s (its products are too small to be compute-bound).
    const cfgPath = join(packageRoot(), 'configs', 'score', 'brown-small.json');
    const shipped = await measureTraining(cfgPath, 128, 8257, 12);
    rows.push({
      name: `training (brown-small config, d 128, width ${shipped.width})`,
      value: shipped.samplesPerS,
      unit: 'samples/s',
      note: `${shipped.ms.total.toFixed(0)} ms/step of ${shipped.batch}, ${shipped.gflops.toFixed(1)} GFLOP/s`,
    });
    data.training_shipped = shipped;
    const f = await measureTraining(cfgPath, 128, 8257, 12, { width: 512 });
    ctx.log(`score training: ${f.samplesPerS.toFixed(0)} samples/s, ${f.gflops.toFixed(1)} GFLOP/s`);
    rows.push({
      name: 'training (brown-small config, d 128, width 512)',
      value: f.samplesPerS,
      unit: 'samples/s',
      note: `${f.ms.total.toFixed(0)} ms/step of ${f.batch}, width ${f.width}`,
    });
    rows.push({
      name: 'training matmul throughput',
      value: f.gflops,
      unit: 'GFLOP/s',
      note: `${(100 * f.fraction).toFixed(0)}% of the interleaved 1024³ matmul (${f.referenceGflops.toFixed(1)} GFLOP/s)`,
    });
    rows.push({
      name: 'step split: batch | fwd+bwd | Adam+EMA',
      value: f.ms.total,
      unit: 'ms',
      note: `${f.ms.batch.toFixed(1)} | ${f.ms.grad.toFixed(1)} | ${f.ms.update.toFixed(1)} ms`,
    });
    targets.push(target('score training / matmul throughput', f.fraction, 'fraction', 'min', 0.5));
    data.training = f;
    if (existsSync(join(embeddedModelDir(), 'model.safetensors'))) {
      const lm = await loadModel(undefined);
      try {
        const s = await fieldCacheSecondsPer1000(lm.model, Math.min(128, lm.model.nPositions), 4096);
        rows.push({
          name: 'field cache, embedded model',
          value: s,
          unit: 's/1000 tok',
          note: `context ${Math.min(128, lm.model.nPositions)}, ${lm.engine} engine`,
        });
        data.field_cache_embedded = s;
      } finally {
        lm.dispose();
      }
    } else {
      rows.push({ name: 'field cache, embedded model', value: NaN, unit: 's/1000 tok', note: 'models/brown-small missing' });
    }
    // the GPT-2-small-shaped field cache on both engines: section `engines`
    return { rows, targets, data };
  },
};
