/**
 * The shape of the residual tangent-score network (src/score/network.ts): its configuration, the
 * feature normalisation, the parameter names and shapes, and the check of a host weight map. No
 * tfjs dependency, so that the host network (src/score/networkHost.ts) loads without tfjs in the
 * reverse SDE's worker threads (sampling/reverseWorker.ts); src/score/network.ts re-exports it all.
 */
import type { HostTensor } from '../model/weights.js';

/** Activation functions of the score network. */
export const ACTIVATIONS = ['silu', 'gelu', 'relu', 'tanh'] as const;
/** One of {@link ACTIVATIONS}. */
export type Activation = (typeof ACTIVATIONS)[number];

/** Shape of the score network: d, width, depth, activation, time embedding, conditioning on N. */
export interface NetworkConfig {
  /** Spin dimension. */
  d: number;
  width: number;
  /** Number of hidden layers (≥ 1): the input layer plus depth − 1 residual layers. */
  depth: number;
  activation: Activation;
  /** Size E of the sinusoidal time embedding (even). */
  timeEmbedding: number;
  /** Whether the network sees the context field (N̂ and log|N|). */
  condition: boolean;
}

/** Feature normalisation constants, fixed at the start of training and saved with the weights. */
export interface FeatureNorm {
  logS2Min: number;
  logS2Max: number;
  /** Mean and standard deviation of log|N| over the training fields (0, 1 without conditioning). */
  logNMean: number;
  logNStd: number;
}

/** Width of the network's input x = [S | N̂ | z | time embedding]. */
export function inputDim(c: NetworkConfig): number {
  return c.d + (c.condition ? c.d + 1 : 0) + c.timeEmbedding;
}

/** Parameter names and shapes in a fixed order. */
export function paramShapes(c: NetworkConfig): [string, number[]][] {
  const out: [string, number[]][] = [
    ['in.W', [inputDim(c), c.width]],
    ['in.b', [c.width]],
  ];
  for (let i = 1; i < c.depth; i++) out.push([`h${i}.W`, [c.width, c.width]], [`h${i}.b`, [c.width]]);
  out.push(['out.W', [c.width, c.d]], ['out.b', [c.d]]);
  return out;
}

/** Check a host weight map against the config; returns a message or null. */
export function checkParams(c: NetworkConfig, host: Map<string, HostTensor>): string | null {
  for (const [name, shape] of paramShapes(c)) {
    const t = host.get(name);
    if (!t) return `weight ${name} is missing`;
    if (t.shape.join(',') !== shape.join(',')) return `weight ${name} has shape [${t.shape}], the network config needs [${shape}]`;
  }
  return null;
}
