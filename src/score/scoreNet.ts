/**
 * The trained residual tangent score as a `ScoreModel` (src/score/contract.ts) for the guided
 * reverse sampler of BL Eq. 14 (Bhattacharjee & Lee; derivation in docs/residual-score.md):
 *
 *   reverse time τ = T − t:   dS = [η P_S N̂ + β(t) P_S s_θ(S, t, N)] dτ + √β(t) P_S ∘ dW̄,
 *   N̂ = N/|N|  (the field is normalised; η carries the magnitude of the guidance).
 *
 * A score directory holds
 *   score.json          ScoreNetMeta: the ScoreModelMeta contract fields plus tMin, the field
 *                       scaling ('unit'), the network config and feature normalisation
 *   score.safetensors   the network weights (the EMA of training), F32 or F16
 * `loadScoreModel(dir)` accepts a run directory (after export), a checkpoint directory
 * (RUN/checkpoints/step-N) or an installed copy such as models/brown-small/score.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { sigma2 as sigma2At } from '../core/schedules.js';
import { UserError } from '../errors.js';
import { atomicWriteJson } from '../io/atomic.js';
import { loadSafetensors, writeSafetensors, type WriteDtype } from '../model/safetensors.js';
import type { HostTensor } from '../model/weights.js';
import { checkParams, normaliseFields, scoreForward, uploadParams, type FeatureNorm, type NetworkConfig, type Params } from './network.js';
import { HostScoreNet } from './networkHost.js';
import type { BoundScore, ScoreModel, ScoreModelMeta } from './contract.js';

/** File name of a score model's metadata in its directory. */
export const SCORE_META_FILE = 'score.json';
/** File name of a score model's weights in its directory. */
export const SCORE_WEIGHTS_FILE = 'score.safetensors';

/** The saved metadata: the contract's fields plus what this network needs to run. */
export interface ScoreNetMeta extends ScoreModelMeta {
  /** The network is trained with N̂ = N/|N| (plus log|N| as a feature); score() clamps t to [tMin, T]. */
  fieldScaling: 'unit';
  network: NetworkConfig;
  norm: FeatureNorm;
  /** Training details, for the record. */
  training: { steps: number; objective: 'dsm' | 'ssm'; weighting: string; config?: string };
}

/** Write score.json and score.safetensors into `dir` (atomically each). */
export function saveScoreModel(dir: string, meta: ScoreNetMeta, weights: Map<string, HostTensor>, dtype: WriteDtype = 'F32'): void {
  writeSafetensors(join(dir, SCORE_WEIGHTS_FILE), weights, { dtype, metadata: { format: meta.format } });
  atomicWriteJson(join(dir, SCORE_META_FILE), meta);
}

/** Read and check score.json of `dir`. */
export function readScoreMeta(dir: string): ScoreNetMeta {
  const path = join(dir, SCORE_META_FILE);
  if (!existsSync(path)) {
    throw new UserError(
      'E_FILE',
      `${dir} has no ${SCORE_META_FILE}; give a score directory written by \`spinbath train\` (the run directory, or RUN/checkpoints/step-N)`,
    );
  }
  let m: ScoreNetMeta;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as ScoreNetMeta;
  } catch (e) {
    throw new UserError('E_CHECKPOINT', `${path} is not valid JSON (${(e as Error).message}); re-export the score model`);
  }
  if (m?.format !== 'spinbath-score/1')
    throw new UserError('E_CHECKPOINT', `${path} is not a spinbath score model (format ${JSON.stringify(m?.format)}, expected spinbath-score/1)`);
  if (!m.network || !m.norm || !m.schedule || !(m.d >= 3) || m.network.d !== m.d)
    throw new UserError('E_CHECKPOINT', `${path} is incomplete or inconsistent (network, norm, schedule, d); re-export the score model`);
  return m;
}

/**
 * The network with fixed weights behind the ScoreModel contract. `bind` (the sampler's path) runs
 * on the host through HostScoreNet (src/score/networkHost.ts, WebAssembly SIMD); `score` runs the
 * tfjs `scoreForward` (tests and tools). Each side is built from the host weights on first use.
 */
export class NetScoreModel implements ScoreModel {
  private params: Params | null = null;
  private hostNet: HostScoreNet | null = null;

  constructor(
    readonly meta: ScoreNetMeta,
    private readonly host: Map<string, HostTensor>,
  ) {
    const problem = checkParams(meta.network, host);
    if (problem) throw new UserError('E_CHECKPOINT', `score model: ${problem}`);
  }

  /** The metadata and host weights, from which another thread rebuilds the same host network (sampling/reversePool.ts). */
  hostParts(): { meta: ScoreNetMeta; host: Map<string, HostTensor> } {
    return { meta: this.meta, host: this.host };
  }

  /** Bind raw fields N [n·d] for one reverse run (the ScoreModel contract); invalidates the previous binding. */
  bind(N: Float32Array, n: number): BoundScore {
    this.hostNet ??= new HostScoreNet(this.meta, this.host);
    return this.hostNet.bind(N, n);
  }

  /**
   * Residual score at spins S [n, d], forward times t [n] (clamped to [tMin, T]) and raw fields
   * N [n, d] (normalised here; ignored by an unconditioned network) → [n, d], tangent at S (tfjs).
   */
  score(S: tf.Tensor, t: tf.Tensor, N: tf.Tensor): tf.Tensor {
    const n = S.shape[0] as number;
    const { d, schedule, tMin } = this.meta;
    if (S.rank !== 2 || S.shape[1] !== d) throw new UserError('E_INPUT', `score: spins have shape [${S.shape}], the score model needs [n, ${d}]`);
    if (t.size !== n) throw new UserError('E_INPUT', `score: ${t.size} times for ${n} spins`);
    const th = t.dataSync();
    const logS2 = new Float32Array(n);
    const inv = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const s2 = sigma2At(schedule, Math.min(schedule.T, Math.max(tMin, th[i])));
      logS2[i] = Math.log(s2);
      inv[i] = 1 / Math.sqrt(s2);
    }
    this.params ??= uploadParams(this.host, 'frozen');
    const params = this.params;
    return tf.tidy(() => {
      const extra = this.meta.network.condition ? normaliseFields(N) : {};
      return scoreForward(this.meta.network, this.meta.norm, params, {
        S,
        logSigma2: tf.tensor2d(logS2, [n, 1]),
        invSigma: tf.tensor2d(inv, [n, 1]),
        ...extra,
      });
    });
  }

  /** Release the weights on both sides (tfjs and host). */
  dispose(): void {
    if (this.params) for (const p of this.params.values()) p.dispose();
    this.params = null;
    this.hostNet?.dispose();
    this.hostNet = null;
  }
}

/** Load a score directory (see the file comment) as a ScoreModel. */
export async function loadScoreModel(dir: string): Promise<NetScoreModel> {
  const meta = readScoreMeta(dir);
  const wpath = join(dir, SCORE_WEIGHTS_FILE);
  if (!existsSync(wpath)) throw new UserError('E_FILE', `${dir} has ${SCORE_META_FILE} but no ${SCORE_WEIGHTS_FILE}; re-export the score model`);
  const host = loadSafetensors(wpath);
  const problem = checkParams(meta.network, host);
  if (problem) throw new UserError('E_CHECKPOINT', `${wpath}: ${problem}; the weights do not match ${SCORE_META_FILE}`);
  return new NetScoreModel(meta, host);
}
