/**
 * The residual tangent-score network s_θ(S_t, t, N) of the guided reverse SDE (BL Eq. 14 /
 * B6; derivation of what it learns in docs/residual-score.md): a residual MLP on
 *
 *   x = [ S_t (d) | N̂ = N/|N| (d) | z = standardised log|N| (1) | time embedding (E) ]
 *
 * (the field parts only when `condition`), with the time embedding sin/cos(f_k τ),
 * τ = (log σ²(t) − log σ²_min)/(log σ²_max − log σ²_min), f_k = π·64^{k/(E/2−1)}. Layers:
 *   h = act(x W_in + b_in);  h ← h + act(h W_i + b_i) (depth − 1 times);  o = h W_out + b_out
 *   s = P_S P_S (o / σ(t))      — output scaled by 1/σ (the score grows like θ/σ²), projected twice
 *                                 onto T_S S^{d−1} so that |S·s| sits at float32 rounding.
 * Matrix products go through src/core/linalg.ts `linear` (explicit transposes in both passes).
 * The forward is a pure function of a parameter map, so the same code runs the trained weights,
 * their EMA and host copies. Shapes in comments: n rows, d spin dimension, W width.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readData } from '../backend.js';
import { linear } from '../core/linalg.js';
import { tangentProject } from '../core/sphere.js';
import { geluTanh } from '../model/gpt2.js';
import type { HostTensor } from '../model/weights.js';
import { makeRng, normalArray } from '../rng.js';
import { inputDim, paramShapes, type Activation, type FeatureNorm, type NetworkConfig } from './networkShape.js';

export { ACTIVATIONS, checkParams, inputDim, paramShapes, type Activation, type FeatureNorm, type NetworkConfig } from './networkShape.js';

export type Params = Map<string, tf.Tensor>;

/** Matmul FLOPs of one forward pass per row (2 per multiply-add). */
export function forwardFlopsPerRow(c: NetworkConfig): number {
  return 2 * (inputDim(c) * c.width + (c.depth - 1) * c.width * c.width + c.width * c.d);
}

/**
 * Initial host weights from a seed: input and hidden matrices N(0, gain²/fan_in) (gain √2 for
 * silu/relu/gelu, 1 for tanh; residual layers further scaled by 1/√depth), the output matrix
 * N(0, (0.1)²/width), biases 0.
 */
export function initParams(c: NetworkConfig, seed: number | string): Map<string, HostTensor> {
  const rng = makeRng(`score-net-init/${seed}`);
  const gain = c.activation === 'tanh' ? 1 : Math.SQRT2;
  const out = new Map<string, HostTensor>();
  for (const [name, shape] of paramShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name.endsWith('.b')) data = new Float32Array(n);
    else if (name === 'out.W') data = normalArray(rng, n, 0.1 / Math.sqrt(c.width));
    else if (name === 'in.W') data = normalArray(rng, n, gain / Math.sqrt(shape[0]));
    else data = normalArray(rng, n, gain / Math.sqrt(shape[0] * c.depth));
    out.set(name, { shape, data });
  }
  return out;
}

let uploads = 0;

/**
 * Upload host weights: 'trainable' tf.Variables (unique names), 'state' variables that are assigned
 * but never differentiated (the EMA), or 'frozen' kept tensors (inference).
 */
export function uploadParams(host: Map<string, HostTensor>, kind: 'trainable' | 'state' | 'frozen'): Params {
  const out: Params = new Map();
  const tag = uploads++;
  for (const [name, t] of host) {
    const v = tf.tensor(t.data, t.shape);
    if (kind === 'frozen') {
      out.set(name, tf.keep(v));
      continue;
    }
    out.set(name, tf.variable(v, kind === 'trainable', `score-net-${tag}/${name}`));
    v.dispose();
  }
  return out;
}

/** The parameters on the host (async reads: also on webgpu). */
export async function downloadParams(p: Params): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of p) out.set(name, { shape: [...t.shape], data: Float32Array.from(await readData(t)) });
  return out;
}

/**
 * y + b for y [n, out], b [out], whose gradient for b is onesᵀ·dy (one [1, n]·[n, out] product):
 * tfjs reduces over a non-last axis by transposing first, which on tfjs-wasm costs as much as a
 * transpose of dy per layer.
 */
const addBias: (y: tf.Tensor, b: tf.Tensor) => tf.Tensor = tf.customGrad(((y: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([]);
  return {
    value: tf.add(y, b),
    gradFunc: (dy: tf.Tensor) => [dy, tf.reshape(tf.matMul(tf.ones([1, dy.shape[0] as number]), dy), b.shape)],
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
}) as any) as unknown as (y: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** Affine layer x W + b: core `linear` (explicit transposes) for the product, addBias for b. x [n, in] → [n, out]. */
function affine(x: tf.Tensor, W: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return addBias(linear(x, W), b);
}

function act(name: Activation, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
    case 'gelu':
      return geluTanh(x);
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
  }
}

/** Inputs of one forward pass (device tensors; host → device conversion is the caller's). */
export interface NetInputs {
  /** Spins S_t [n, d] (unit rows). */
  S: tf.Tensor;
  /** log σ²(t) per row [n, 1]. */
  logSigma2: tf.Tensor;
  /** 1/σ(t) per row [n, 1]. */
  invSigma: tf.Tensor;
  /** Unit fields N̂ [n, d] and log|N| [n, 1]; required when the network is conditioned. */
  Nhat?: tf.Tensor;
  logN?: tf.Tensor;
}

/** Sinusoidal embedding of τ [n, 1] → [n, E]. */
export function timeEmbedding(tau: tf.Tensor, E: number): tf.Tensor {
  return tf.tidy(() => {
    const half = E / 2;
    const freqs = Float32Array.from({ length: half }, (_, k) => Math.PI * Math.pow(64, half > 1 ? k / (half - 1) : 0));
    const arg = tf.mul(tau, tf.tensor2d(freqs, [1, half])); // [n, E/2]
    return tf.concat([tf.sin(arg), tf.cos(arg)], 1); // [n, E]
  });
}

/** s_θ [n, d], tangent at S. Differentiable in the parameters and in S. */
export function scoreForward(c: NetworkConfig, norm: FeatureNorm, p: Params, x: NetInputs): tf.Tensor {
  return tf.tidy(() => {
    const tau = tf.div(tf.sub(x.logSigma2, norm.logS2Min), Math.max(1e-12, norm.logS2Max - norm.logS2Min)); // [n, 1]
    const parts: tf.Tensor[] = [x.S]; // [n, d]
    if (c.condition) {
      if (!x.Nhat || !x.logN) throw new Error('scoreForward: a conditioned network needs Nhat and logN');
      parts.push(x.Nhat, tf.div(tf.sub(x.logN, norm.logNMean), norm.logNStd)); // [n, d], [n, 1]
    }
    parts.push(timeEmbedding(tau, c.timeEmbedding)); // [n, E]
    const input = tf.concat(parts, 1); // [n, inputDim]
    let h = act(c.activation, affine(input, p.get('in.W')!, p.get('in.b')!)); // [n, W]
    for (let i = 1; i < c.depth; i++) h = tf.add(h, act(c.activation, affine(h, p.get(`h${i}.W`)!, p.get(`h${i}.b`)!))); // [n, W]
    const o = affine(h, p.get('out.W')!, p.get('out.b')!); // [n, d]
    return tangentProject(x.S, tangentProject(x.S, tf.mul(o, x.invSigma))); // [n, d]
  });
}

/** Unit fields and log norms of raw fields N [n, d] → N̂ [n, d], log|N| [n, 1]. */
export function normaliseFields(N: tf.Tensor): { Nhat: tf.Tensor; logN: tf.Tensor } {
  return tf.tidy(() => {
    const norm = tf.maximum(tf.norm(N, 'euclidean', -1, true), 1e-12); // [n, 1]
    return { Nhat: tf.div(N, norm), logN: tf.log(norm) };
  });
}
