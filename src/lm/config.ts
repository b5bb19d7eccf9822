/**
 * Language-model training configs (configs/lm/NAME.json), validated with zod:
 *
 *   {
 *     "description": "...",                               optional, free text
 *     "model":    { n_layer, n_head, n_embd, n_positions, merges },
 *     "training": { batch_size, seq_len, steps, lr, warmup_steps, min_lr, weight_decay,
 *                   beta1, beta2, eps, grad_clip, eval_every, eval_batches, checkpoint_every, seed },
 *     "export":   { dtype: "float32" | "float16" }        optional, default float32
 *   }
 *
 * `model.merges` is the vocabulary knob: K merges of GPT-2's byte-level BPE (vocabulary 257 + K,
 * src/data/bpe.ts), or null for the full GPT-2 tokenizer (50257 tokens). Every object is strict
 * (an unknown field is rejected by name) and every number range-checked; cross-field rules
 * (n_head divides n_embd, seq_len ≤ n_positions, min_lr ≤ lr, warmup_steps < steps) follow.
 * One UserError line per problem, naming the field.
 */
import { z } from 'zod';
import { readJsonFile } from '../config/load.js';
import { exportSchema, int, real } from '../config/fields.js';
import { firstDifference, type ConfigDifference } from '../io/checkpointDir.js';
import { zodToUserError } from '../config/zodError.js';
import { GPT2_MERGES } from '../data/bpe.js';
import { UserError } from '../errors.js';

const modelSchema = z
  .object({
    n_layer: int(1, 48),
    n_head: int(1, 64),
    n_embd: int(4, 4096),
    n_positions: int(2, 8192),
    merges: int(0, GPT2_MERGES).nullable(),
  })
  .strict();

const trainingSchema = z
  .object({
    batch_size: int(1, 4096),
    seq_len: int(1, 8192),
    steps: int(1, 10_000_000),
    lr: real(0, 1, true),
    warmup_steps: int(0, 10_000_000),
    min_lr: real(0, 1),
    weight_decay: real(0, 10),
    beta1: real(0, 0.999999),
    beta2: real(0, 0.999999),
    eps: real(0, 1, true),
    grad_clip: real(0, 1e6), // 0 = no clipping
    eval_every: int(1, 10_000_000),
    eval_batches: int(1, 100_000),
    checkpoint_every: int(1, 10_000_000),
    seed: int(0, 2 ** 31 - 1),
  })
  .strict();

/** The zod schema of a language-model training config: model shape, tokenizer merges, training hyper-parameters. */
export const lmConfigSchema = z
  .object({
    description: z.string().optional(),
    model: modelSchema,
    training: trainingSchema,
    export: exportSchema.default({ dtype: 'float32' }),
  })
  .strict();

/** A validated language-model training config (configs/lm/NAME.json). */
export type LmConfig = z.output<typeof lmConfigSchema>;
export type LmModelConfig = LmConfig['model'];
export type LmTrainingConfig = LmConfig['training'];

/** Validate a parsed config object; `where` names its source in messages. */
export function parseLmConfig(raw: unknown, where: string): LmConfig {
  const r = lmConfigSchema.safeParse(raw);
  if (!r.success) throw zodToUserError(r.error, where);
  const c = r.data;
  const m = c.model;
  const t = c.training;
  const bad = (field: string, what: string) => new UserError('E_CONFIG', `${where}: field ${field}: ${what}`);
  if (m.n_embd % m.n_head !== 0) throw bad('model.n_head', `${m.n_head} does not divide model.n_embd ${m.n_embd}; choose a divisor`);
  if (t.seq_len > m.n_positions) throw bad('training.seq_len', `${t.seq_len} exceeds the model context model.n_positions ${m.n_positions}; lower it`);
  if (t.min_lr > t.lr) throw bad('training.min_lr', `${t.min_lr} exceeds training.lr ${t.lr}; the cosine decay goes down to min_lr`);
  if (t.warmup_steps >= t.steps) throw bad('training.warmup_steps', `${t.warmup_steps} must be below training.steps ${t.steps}`);
  return c;
}

/** Read and validate configs/lm/NAME.json. */
export function loadLmConfig(path: string): LmConfig {
  return parseLmConfig(readJsonFile(path, 'LM config'), path);
}

/** Fields whose values must agree for a run to be resumed with this config (all but description and export). */
export function configDifference(saved: LmConfig, given: LmConfig): ConfigDifference | null {
  return firstDifference(saved, given, ['description', 'export']);
}
