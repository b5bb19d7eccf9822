/**
 * config.json of a GPT-2-architecture checkpoint (Hugging Face layout), validated with zod.
 * Unknown fields are kept (so a config written back stays loadable by transformers); the
 * fields the forward pass needs are checked and given the Hugging Face defaults:
 *   n_positions ← n_ctx when absent, layer_norm_epsilon 1e-5, activation_function 'gelu_new',
 *   n_inner null (= 4·n_embd), tie_word_embeddings true.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { atomicWriteJson } from '../io/atomic.js';
import type { Gpt2Config } from './weights.js';

/** Activation functions the forward pass implements (Hugging Face ACT2FN names). */
export const GPT2_ACTIVATIONS = ['gelu_new', 'gelu', 'gelu_pytorch_tanh', 'relu'] as const;
export type Gpt2Activation = (typeof GPT2_ACTIVATIONS)[number];

const posInt = z.number({ invalid_type_error: 'must be a positive integer' }).int('must be an integer').positive('must be positive');
const tokenId = z.number().int().nonnegative().nullable().optional();

const schema = z
  .object({
    model_type: z.string().optional(),
    vocab_size: posInt,
    n_positions: posInt.optional(),
    n_ctx: posInt.optional(),
    n_embd: posInt,
    n_layer: posInt,
    n_head: posInt,
    n_inner: posInt.nullable().optional(),
    layer_norm_epsilon: z.number().positive('must be positive').default(1e-5),
    activation_function: z.string().default('gelu_new'),
    tie_word_embeddings: z.boolean().default(true),
    bos_token_id: tokenId,
    eos_token_id: tokenId,
  })
  .passthrough();

function fail(where: string, field: string, what: string): UserError {
  return new UserError('E_CONFIG', `${where}: field '${field}' ${what}; fix config.json`);
}

/**
 * Validates a parsed config.json object. `where` names the file for messages.
 * Returns a Gpt2Config with defaults filled in and n_positions always set.
 */
export function parseGpt2Config(raw: unknown, where = 'config.json'): Gpt2Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new UserError('E_CONFIG', `${where}: expected a JSON object with the model's settings`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.join('.') || '(root)';
    const got = issue.path.length ? (raw as Record<string, unknown>)[String(issue.path[0])] : raw;
    const what = got === undefined ? 'is missing' : `is invalid (${issue.message.toLowerCase()}, got ${JSON.stringify(got)})`;
    throw fail(where, field, what);
  }
  const c = r.data;
  if (c.model_type !== undefined && c.model_type !== 'gpt2') {
    throw fail(where, 'model_type', `is '${c.model_type}', but only GPT-2-architecture models (model_type 'gpt2') are supported`);
  }
  const nPositions = c.n_positions ?? c.n_ctx;
  if (nPositions === undefined) throw fail(where, 'n_positions', 'is missing (and there is no n_ctx either)');
  if (c.n_embd % c.n_head !== 0) {
    throw fail(where, 'n_head', `(${c.n_head}) must divide n_embd (${c.n_embd})`);
  }
  if (!(GPT2_ACTIVATIONS as readonly string[]).includes(c.activation_function)) {
    throw fail(where, 'activation_function', `is '${c.activation_function}', which is not supported (use one of ${GPT2_ACTIVATIONS.join(', ')})`);
  }
  const { bos_token_id: bos, eos_token_id: eos, ...rest } = c;
  const out: Gpt2Config = { ...rest, n_positions: nPositions, n_inner: c.n_inner ?? null };
  if (bos != null) out.bos_token_id = bos;
  if (eos != null) out.eos_token_id = eos;
  return out;
}

/** Reads and validates `dir/config.json`. */
export function readGpt2Config(dir: string): Gpt2Config {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) {
    const why = existsSync(dir) ? (statSync(dir).isDirectory() ? 'has no config.json' : 'is a file, not a model directory') : 'does not exist';
    throw new UserError('E_FILE', `model directory ${dir} ${why}; a model directory needs config.json and model.safetensors`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError('E_CONFIG', `${path} is not valid JSON (${(e as Error).message}); fix or re-download it`);
  }
  return parseGpt2Config(raw, path);
}

/**
 * Writes `dir/config.json` atomically. Adds model_type 'gpt2' and architectures
 * ['GPT2LMHeadModel'] when absent so that transformers' AutoModel can load the directory.
 */
export function writeGpt2Config(dir: string, config: Gpt2Config): void {
  const checked = parseGpt2Config(config, `config for ${dir}`);
  const out: Record<string, unknown> = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], ...checked };
  if (out.n_ctx === undefined) out.n_ctx = checked.n_positions;
  atomicWriteJson(join(dir, 'config.json'), out);
}
