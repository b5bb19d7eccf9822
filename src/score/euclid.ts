/**
 * Runtime of the Brownian (Euclidean) VP-DDPM baseline (issue 14): its metadata, the ε-network
 * forward, and the frozen model the sampler (sampling/euclidean.ts) loads. Training lives in
 * training/euclidean.ts; this file is shared by training/ and sampling/ (which never import each other).
 *
 *   forward (VP SDE): x_t = √ᾱ(t) x_0 + √(1 − ᾱ(t)) ε, ᾱ(t) = exp(−∫₀ᵗ β)
 *   network: ε_θ(x_t, t, N), the residual MLP of src/score/network.ts on
 *            [x_t | N̂ | standardised log|N| | time embedding], output unprojected
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { linear } from '../core/linalg.js';
import { sigma2 as integratedBeta, type NoiseSchedule } from '../core/schedules.js';
import { UserError } from '../errors.js';
import { loadSafetensors } from '../model/safetensors.js';
import type { HostTensor } from '../model/weights.js';
import { checkParams, normaliseFields, timeEmbedding, uploadParams, type FeatureNorm, type NetworkConfig, type Params } from './network.js';

export const EUCLID_FORMAT = 'spinbath-euclid/1';
export const EUCLID_META_FILE = 'euclid.json';
export const EUCLID_WEIGHTS_FILE = 'euclid.safetensors';

export interface EuclidMeta {
  format: typeof EUCLID_FORMAT;
  d: number;
  vocab: number;
  fieldSource: string;
  modelHash: string;
  /** β(t) of the VP SDE (absolute units): ᾱ(t) = exp(−∫₀ᵗ β). */
  schedule: NoiseSchedule;
  tMin: number;
  /** c in x_0 = c·W_E[token]. */
  embedScale: number;
  network: NetworkConfig;
  /** logS2Min/Max: log(1 − ᾱ) at t_min and T (the time feature); logN mean/std of the fields. */
  norm: FeatureNorm;
  training: { steps: number; config?: string };
}

/** 1 − ᾱ(t), the VP noise variance at t. */
export function vpVariance(s: NoiseSchedule, t: number): number {
  return -Math.expm1(-integratedBeta(s, t));
}

/** c = √(d / mean_v |W_E[v]|²) of host embeddings W_E [vocab·d]. */
export function embedScaleOf(WE: Float32Array, d: number): number {
  let s = 0;
  for (let i = 0; i < WE.length; i++) s += WE[i] * WE[i];
  return Math.sqrt(d / (s / (WE.length / d)));
}

function act(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x)); // silu
}

/** ε_θ(x_t, t, N) [n, d]: x [n, d], logVar = log(1 − ᾱ) [n, 1], N̂ [n, d], logN [n, 1]. */
export function epsForward(c: NetworkConfig, norm: FeatureNorm, p: Params, x: tf.Tensor, logVar: tf.Tensor, Nhat?: tf.Tensor, logN?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const tau = tf.div(tf.sub(logVar, norm.logS2Min), Math.max(1e-12, norm.logS2Max - norm.logS2Min)); // [n, 1]
    const parts: tf.Tensor[] = [tf.div(x, Math.sqrt(c.d))]; // [n, d], O(1) entries
    if (c.condition) parts.push(Nhat!, tf.div(tf.sub(logN!, norm.logNMean), norm.logNStd)); // [n, d], [n, 1]
    parts.push(timeEmbedding(tau, c.timeEmbedding)); // [n, E]
    const input = tf.concat(parts, 1); // [n, inputDim]
    let h = act(tf.add(linear(input, p.get('in.W')!), p.get('in.b')!)); // [n, W]
    for (let i = 1; i < c.depth; i++) h = tf.add(h, act(tf.add(linear(h, p.get(`h${i}.W`)!), p.get(`h${i}.b`)!))); // [n, W]
    return tf.add(linear(h, p.get('out.W')!), p.get('out.b')!); // [n, d]
  });
}

/** A trained Euclidean DDPM: metadata and frozen weights (tfjs). */
export class EuclidModel {
  private constructor(
    readonly meta: EuclidMeta,
    private readonly params: Params,
  ) {}

  static fromHost(meta: EuclidMeta, host: Map<string, HostTensor>): EuclidModel {
    const problem = checkParams(meta.network, host);
    if (problem) throw new UserError('E_CHECKPOINT', `Euclidean DDPM: ${problem}`);
    return new EuclidModel(meta, uploadParams(host, 'frozen'));
  }

  /** ε_θ at x [n, d], forward time t, raw fields N [n, d] → [n, d]. */
  eps(x: tf.Tensor, t: number, N: tf.Tensor): tf.Tensor {
    const n = x.shape[0] as number;
    const { schedule, tMin } = this.meta;
    const lv = Math.log(vpVariance(schedule, Math.min(schedule.T, Math.max(tMin, t))));
    return tf.tidy(() => {
      const f = this.meta.network.condition ? normaliseFields(N) : { Nhat: undefined, logN: undefined };
      return epsForward(this.meta.network, this.meta.norm, this.params, x, tf.fill([n, 1], lv), f.Nhat, f.logN);
    });
  }

  dispose(): void {
    for (const p of this.params.values()) p.dispose();
  }
}

/** Whether `dir` holds a Euclidean DDPM (euclid.json). */
export function isEuclidDir(dir: string): boolean {
  return existsSync(join(dir, EUCLID_META_FILE));
}

/** Load RUN/euclid.json + euclid.safetensors. */
export function loadEuclidModel(dir: string): EuclidModel {
  const mp = join(dir, EUCLID_META_FILE);
  if (!existsSync(mp)) throw new UserError('E_FILE', `${dir} has no ${EUCLID_META_FILE}; give a directory written by \`spinbath train --space euclidean\``);
  let meta: EuclidMeta;
  try {
    meta = JSON.parse(readFileSync(mp, 'utf8')) as EuclidMeta;
  } catch (e) {
    throw new UserError('E_CHECKPOINT', `${mp} is not valid JSON (${(e as Error).message}); re-train the Euclidean DDPM`);
  }
  if (meta.format !== EUCLID_FORMAT)
    throw new UserError('E_CHECKPOINT', `${mp} is not a spinbath Euclidean DDPM (format ${JSON.stringify(meta.format)}, expected ${EUCLID_FORMAT})`);
  const wp = join(dir, EUCLID_WEIGHTS_FILE);
  if (!existsSync(wp)) throw new UserError('E_FILE', `${dir} has ${EUCLID_META_FILE} but no ${EUCLID_WEIGHTS_FILE}; re-train the Euclidean DDPM`);
  return EuclidModel.fromHost(meta, loadSafetensors(wp));
}
