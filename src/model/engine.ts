/**
 * The contract every GPT-2 inference engine meets, so that analysis, sampling, evaluation and the
 * CLI run unchanged on either engine:
 *
 * - `tfjs` (src/model/gpt2.ts, `Gpt2Model`): the reference and the training engine (differentiable,
 *   any tfjs backend: wasm, cpu, tensorflow, webgpu), arbitrary JS hooks.
 * - `ort` (src/model/ort/): the same forward as an ONNX graph built in memory from the loaded
 *   weights, run by onnxruntime-node (native, threads, fused kernels). Hook sites are graph
 *   outputs; the declarative interventions of src/model/interventions.ts are graph inputs.
 *
 * Results are tf.Tensors in both engines (an ORT engine copies its outputs into tensors on the
 * current tfjs backend), in the layouts of the hook table in src/model/hooks.ts.
 *
 * onnxruntime runs asynchronously, so every forward has an async twin (`forwardAsync`, …). Code that
 * may receive either engine calls the async forms; the sync forms exist on the tfjs engine only (the
 * ort engine's throw). Hooks reach the ort engine only as declarative interventions
 * (`hook.intervention`); `canRun(hooks)` says whether an engine can run a list of hooks, and the ort
 * engine throws `EngineHookError` for those it cannot (the caller then runs that call on tfjs).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import type { Hook, NameFilter } from './hooks.js';
import type { Gpt2Config } from './weights.js';

/** The values of `--engine` (and SPINBATH_ENGINE). */
export const ENGINE_CHOICES = ['auto', 'ort', 'tfjs'] as const;

/** Which engine runs a forward pass. */
export type EngineName = 'tfjs' | 'ort';
/** What the user asks for: `auto` = ort for inference when its native binary loads, else tfjs. */
export type EngineChoice = EngineName | 'auto';

/** A KV cache of one engine (each engine accepts only its own caches). */
export interface ModelCache {
  /** Number of cached positions (0 when empty). */
  readonly length: number;
  /** Batch rows held (null when empty). */
  readonly batch: number | null;
  /** A new cache holding this cache's single row (batch 1) repeated `rows` times; this cache stays valid. */
  tile(rows: number): ModelCache;
  /** Release the cached keys and values. */
  dispose(): void;
}

/**
 * Thrown by an engine asked to run hooks it cannot express (on ort: a hook without a declarative
 * `intervention`). Not a UserError: callers check `canRun` first, or catch this and fall back to tfjs.
 */
export class EngineHookError extends Error {
  readonly code = 'E_ENGINE_HOOK';
  constructor(message: string) {
    super(message);
    this.name = 'EngineHookError';
  }
}

export interface EngineForwardOptions {
  /** KV cache: read for the past positions, then updated in place with this call's keys and values. */
  cache?: ModelCache;
  /** Unembed only the last position: logits are [batch, 1, vocab]. */
  lastOnly?: boolean;
  /** 'residual': return the ln_final output [batch, pos (or 1), d_model] instead of logits. */
  output?: 'logits' | 'residual';
}

/** Options of `runWithCache`: which activations to keep, and hooks for this call. */
export interface RunWithCacheOptions extends EngineForwardOptions {
  names: NameFilter;
  hooks?: readonly Hook[];
}

/** A loaded GPT-2 that can run forward passes; `Gpt2Model` (tfjs) and `OrtGpt2` (ort) implement it. */
export interface LanguageModel {
  readonly engine: EngineName;
  readonly config: Gpt2Config;
  readonly nLayer: number;
  readonly nHead: number;
  readonly dModel: number;
  readonly dHead: number;
  readonly dMlp: number;
  readonly vocab: number;
  readonly nPositions: number;
  /**
   * Parameters by TransformerLens-style name (see `Gpt2Model.params`), as tf.Tensors on the
   * current backend. Owned by the model: do not dispose.
   */
  params(): Map<string, tf.Tensor>;
  /** An empty KV cache for this model. */
  newCache(): ModelCache;
  /** Logits [batch, pos, vocab] (or [batch, 1, vocab] with lastOnly; or the final residual). Caller disposes. */
  forward(ids: number[][], opts?: EngineForwardOptions): tf.Tensor;
  /** Logits of the last position [batch, vocab]. Caller disposes. */
  lastLogits(ids: number[][], opts?: { cache?: ModelCache }): tf.Tensor;
  /** Run with hooks registered for this call only. Caller disposes the logits. */
  runWithHooks(ids: number[][], opts: { hooks: readonly Hook[]; cache?: ModelCache }): tf.Tensor;
  /** Run and keep the named activations. Caller disposes logits and activations. */
  runWithCache(ids: number[][], opts: RunWithCacheOptions): { logits: tf.Tensor; activations: Map<string, tf.Tensor> };
  /** Async twin of `forward` (every engine). */
  forwardAsync(ids: number[][], opts?: EngineForwardOptions): Promise<tf.Tensor>;
  /** Async twin of `lastLogits` (every engine): [batch, vocab]. */
  lastLogitsAsync(ids: number[][], opts?: { cache?: ModelCache }): Promise<tf.Tensor>;
  /** Async twin of `runWithHooks` (every engine); throws EngineHookError when `!canRun(hooks)`. */
  runWithHooksAsync(ids: number[][], opts: { hooks: readonly Hook[]; cache?: ModelCache }): Promise<tf.Tensor>;
  /** Async twin of `runWithCache` (every engine); throws EngineHookError when `!canRun(opts.hooks)`. */
  runWithCacheAsync(ids: number[][], opts: RunWithCacheOptions): Promise<{ logits: tf.Tensor; activations: Map<string, tf.Tensor> }>;
  /** Whether this engine can run these hooks (tfjs: always; ort: when each carries a declarative `intervention`). */
  canRun(hooks: readonly Hook[]): boolean;
  /** Release the weights. */
  dispose(): void;
}

/**
 * Validate a batch of token ids for a forward pass of either engine (one set of messages): rows
 * non-empty and of equal length, ids inside [0, vocab), the cache's batch matching, and cached + new
 * positions within n_positions. Returns the number of cached positions.
 */
export function checkEngineInput(ids: number[][], vocab: number, nPositions: number, cache?: ModelCache | null): number {
  if (!Array.isArray(ids) || ids.length === 0 || !Array.isArray(ids[0]) || ids[0].length === 0) {
    throw new UserError('E_INPUT', 'ids must be a non-empty batch of non-empty rows of token ids (number[][])');
  }
  const P = ids[0].length;
  for (const [r, row] of ids.entries()) {
    if (row.length !== P) throw new UserError('E_INPUT', `ids rows must have equal lengths: row ${r} has ${row.length} tokens, row 0 has ${P}`);
    for (const t of row) {
      if (!Number.isInteger(t) || t < 0 || t >= vocab) {
        throw new UserError('E_INPUT', `token id ${t} in row ${r} is outside the vocabulary [0, ${vocab})`);
      }
    }
  }
  const past = cache?.length ?? 0;
  if (cache && past > 0 && cache.batch !== ids.length) {
    throw new UserError('E_INPUT', `the KV cache holds a batch of ${cache.batch} rows but ids has ${ids.length}`);
  }
  if (past + P > nPositions) {
    const what = past > 0 ? `${past} cached + ${P} new tokens = ${past + P}` : `a prompt of ${P} tokens`;
    throw new UserError(
      'E_INPUT',
      `${what} exceeds the model's context of ${nPositions} positions (n_positions); use --truncate left to keep the last ${nPositions} tokens`,
    );
  }
  return past;
}
