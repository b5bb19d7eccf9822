/**
 * Generation with the Brownian (Euclidean) DDPM baseline (trained by training/euclidean.ts, runtime src/score/euclid.ts; Ho et al. 2020,
 * Song et al. 2021): per new token, the context field N of the context (the same KV-cached forward
 * and field source as guided spin diffusion, sampling/generate.ts), then the reverse VP SDE in R^d
 * from x_T ~ N(0, I), in reverse time τ = T − t with K Euler–Maruyama steps (Song et al. 2021, equation 6),
 *
 *   dx = [½β(t) x + β(t) s_θ(x, t, N)] dτ + √β(t) dW̄,   s_θ = −ε_θ(x, t, N)/√(1 − ᾱ(t)),
 *
 * down to t = t_min, the denoised estimate x̂_0 = (x − √(1−ᾱ) ε_θ)/√ᾱ at t_min (Tweedie), and the
 * nearest-neighbour readout: the token v minimising |x̂_0 − c·W_E[v]| (end-of-text excluded, as in
 * the spherical readout). No physics drift: the conditioning on N is all the guidance there is.
 * Randomness from streams forked from `seed`; results in generateGuided's shape (prompt-major).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beta } from '../src/core/schedules.js';
import { contextFields, DEFAULT_FIELD_SOURCE, fieldSourceId, type FieldSource } from '../src/field/source.js';
import type { ModelCache } from '../src/model/engine.js';
import { UserError } from '../src/errors.js';
import { makeRng, normalArray, type Rng } from '../src/rng.js';
import { vpVariance, type EuclidModel } from '../src/score/euclid.js';
import { encodePrompts, prefill, type GuidedLm, type GuidedResult, type TokenTrace } from './generate.js';
import type { TokenEvent } from './options.js';

export interface EuclidOptions {
  prompts?: string[];
  promptIds?: number[][];
  samples?: number;
  tokens: number;
  /** K reverse steps (default 50). */
  steps?: number;
  ddpm: EuclidModel;
  fieldSource?: FieldSource;
  seed?: number;
  truncate?: 'left';
  maxBatch?: number;
  onToken?: (e: TokenEvent) => void;
}

/**
 * The reverse VP SDE by Euler–Maruyama from x_T ~ N(0, I) [n, d] to t_min in `steps` equal steps,
 * then Tweedie's x̂_0 = (x − √(1−ᾱ) ε_θ)/√ᾱ at t_min (see the file comment). `eps(x, t)` is ε_θ.
 */
export function reverseVp(
  eps: (x: tf.Tensor, t: number) => tf.Tensor,
  meta: Pick<EuclidModel['meta'], 'd' | 'schedule' | 'tMin'>,
  n: number,
  steps: number,
  rng: Rng,
): tf.Tensor {
  const { d, schedule, tMin } = meta;
  const dtau = (schedule.T - tMin) / steps;
  let x: tf.Tensor = tf.tensor2d(normalArray(rng, n * d), [n, d]); // x_T ~ N(0, I)
  for (let i = 0; i < steps; i++) {
    const t = schedule.T - i * dtau;
    const b = beta(schedule, t);
    const sd = Math.sqrt(vpVariance(schedule, t));
    const z = tf.tensor2d(normalArray(rng, n * d), [n, d]);
    const next = tf.tidy(() => {
      const s = tf.div(eps(x, t), -sd); // score [n, d]
      return tf.add(tf.add(x, tf.mul(tf.add(tf.mul(x, 0.5 * b), tf.mul(s, b)), dtau)), tf.mul(z, Math.sqrt(b * dtau))); // [n, d]
    });
    tf.dispose([x, z]);
    x = next;
  }
  const v = vpVariance(schedule, tMin);
  const x0 = tf.tidy(() => tf.div(tf.sub(x, tf.mul(eps(x, tMin), Math.sqrt(v))), Math.sqrt(1 - v))); // [n, d]
  x.dispose();
  return x0;
}

/** Nearest scaled embedding per row of X̂ [n, d]: ids, and the runner-up, with their cosines. */
function nearest(X: tf.Tensor, E: tf.Tensor, sqNorm: tf.Tensor, scale: number): { ids: number[]; cos: number[]; runnerUp: number[]; cosRunnerUp: number[] } {
  const n = X.shape[0] as number;
  // argmin |x − cE|² = argmax (c x·E − ½ c² |E|²)
  const score = tf.tidy(() => tf.sub(tf.mul(tf.matMul(X, E, false, true), scale), tf.mul(sqNorm, 0.5 * scale * scale))); // [n, vocab]
  const s = score.dataSync();
  const xnT = tf.norm(X, 'euclidean', 1); // [n]
  const xn = xnT.dataSync();
  tf.dispose([score, xnT]);
  const V = s.length / n;
  const en = sqNorm.dataSync();
  const ids: number[] = [];
  const runnerUp: number[] = [];
  const cos: number[] = [];
  const cosRunnerUp: number[] = [];
  for (let i = 0; i < n; i++) {
    let a = -1;
    let b = -1;
    for (let v = 0; v < V; v++) {
      const x = s[i * V + v];
      if (a < 0 || x > s[i * V + a]) {
        b = a;
        a = v;
      } else if (b < 0 || x > s[i * V + b]) b = v;
    }
    ids.push(a);
    runnerUp.push(b);
    // cos(x̂, E_v) = (score + ½c²|E|²)/(c |x̂| |E|)
    const c = (v: number) => (s[i * V + v] + 0.5 * scale * scale * en[v]) / (scale * Math.max(xn[i], 1e-30) * Math.sqrt(Math.max(en[v], 1e-30)));
    cos.push(c(a));
    cosRunnerUp.push(c(b));
  }
  return { ids, cos, runnerUp, cosRunnerUp };
}

/** Generate `tokens` new tokens for every (prompt, sample) with the Euclidean DDPM. */
export async function generateEuclidean(lm: GuidedLm, opts: EuclidOptions): Promise<GuidedResult[]> {
  const { model } = lm;
  const ddpm = opts.ddpm;
  const meta = ddpm.meta;
  const source = opts.fieldSource ?? DEFAULT_FIELD_SOURCE;
  if (meta.d !== model.dModel || meta.vocab !== model.vocab)
    throw new UserError(
      'E_INPUT',
      `the Euclidean DDPM was trained for d = ${meta.d}, vocabulary ${meta.vocab}; this model has d = ${model.dModel}, vocabulary ${model.vocab}`,
    );
  if (meta.fieldSource !== fieldSourceId(source))
    throw new UserError('E_INPUT', `the Euclidean DDPM is conditioned on the field '${meta.fieldSource}', not '${fieldSourceId(source)}'`);
  const steps = opts.steps ?? 50;
  if (!Number.isInteger(steps) || steps < 1) throw new UserError('E_ARG', `--steps must be a positive integer (got ${steps})`);
  const samples = opts.samples ?? 1;
  const { embedScale } = meta;
  const prompts = encodePrompts(lm, opts);
  const master = makeRng(opts.seed ?? 0);
  const E = model.params().get('embed.W_E')!; // [vocab, d]
  const eos = lm.tokenizer.eosId;
  const q = tf.tidy(() => tf.sum(tf.square(E), 1)); // [vocab]
  const qHost = Float32Array.from(q.dataSync());
  q.dispose();
  if (eos >= 0 && eos < model.vocab) qHost[eos] = 1e9; // end-of-text is never the nearest
  const sqNorm = tf.tensor1d(qHost); // [vocab]
  const results: GuidedResult[] = [];
  const maxBatch = opts.maxBatch ?? 64;
  try {
    const perChunk = Math.max(1, Math.floor(maxBatch / samples));
    for (let c0 = 0; c0 < prompts.length; c0 += perChunk) {
      const chunk = prompts.slice(c0, c0 + perChunk);
      const rng = master.fork(`chunk${c0 / perChunk}/noise`);
      const groups: { rows: GuidedResult[]; cache: ModelCache; field: tf.Tensor }[] = [];
      try {
        for (const [j, p] of chunk.entries()) {
          const rows: GuidedResult[] = Array.from({ length: samples }, (_, sample) => ({
            prompt: p.text,
            promptIndex: c0 + j,
            sample,
            promptTokens: p.ids,
            text: '',
            tokens: [],
            trace: [] as TokenTrace[],
          }));
          results.push(...rows);
          const { cache, field } = await prefill(model, p.ids, source, samples); // cache of `samples` rows, field [samples, d]
          groups.push({ rows, cache, field });
        }
      } catch (e) {
        for (const g of groups) {
          g.cache.dispose();
          g.field.dispose();
        }
        throw e;
      }
      const rows = groups.flatMap((g) => g.rows);
      const n = rows.length;
      try {
        for (let k = 0; k < opts.tokens; k++) {
          const N =
            groups.length === 1
              ? groups[0].field
              : tf.concat(
                  groups.map((g) => g.field),
                  0,
                ); // [n, d]
          const normT = tf.norm(N, 'euclidean', 1); // [n]
          const norms = Array.from(normT.dataSync());
          normT.dispose();
          const x0 = reverseVp((x, t) => ddpm.eps(x, t, N), meta, n, steps, rng); // x̂_0 [n, d]
          if (groups.length > 1) N.dispose();
          const out = nearest(x0, E, sqNorm, embedScale);
          x0.dispose();
          rows.forEach((r, i) => {
            r.tokens.push(out.ids[i]);
            r.trace.push({ fieldNorm: norms[i], cosChosen: out.cos[i], cosRunnerUp: out.cosRunnerUp[i], runnerUp: out.runnerUp[i], steps });
            opts.onToken?.({
              row: r.promptIndex * samples + r.sample,
              promptIndex: r.promptIndex,
              sample: r.sample,
              index: k,
              token: out.ids[i],
              tokens: r.tokens,
            });
          });
          if (k + 1 < opts.tokens) {
            for (const g of groups) {
              const next = await contextFields(
                model,
                g.rows.map((r) => [r.tokens[k]]),
                source,
                g.cache,
              ); // [samples, d]
              g.field.dispose();
              g.field = next;
            }
          }
        }
      } finally {
        for (const g of groups) {
          g.cache.dispose();
          g.field.dispose();
        }
      }
    }
  } finally {
    sqNorm.dispose();
  }
  for (const r of results) r.text = r.tokens.length > 0 ? lm.tokenizer.decode(r.tokens) : '';
  return results;
}
