/**
 * Attention-guided spin-diffusion generation (BL Eq. 14, Sec. V D / B6): for
 * each new token, compute the context field N_proj of the context (src/field/source.ts; a KV cache
 * makes it one incremental forward per token), run the guided reverse SDE (sampling/drift.ts) from
 * a uniform S_T with K steps of an integrator (sampling/integrators/), read the final spin out as
 * a token (sampling/readout.ts), append it and repeat.
 *
 *   export async function generateGuided(lm: GuidedLm, opts: GuidedOptions): Promise<GuidedResult[]>
 *
 * `GuidedOptions` (sampling/options.ts): prompts | promptIds, samples, tokens, eta, lambda (→ LLG
 * mode), gamma, precession, steps (K = 50), schedule, tMin, integrator ('heun'), fieldSource
 * ({kind:'final'}), fieldScale ('unit': η P_S N̂, as the score is trained — src/score/scoreNet.ts),
 * score (null = zero-training baseline), readout ('nearest')
 * and readoutTemperature, seed, truncate, maxBatch, onToken, profile.
 * Results: one per (prompt, sample), prompt-major (row = promptIndex·samples + sample).
 *
 * Batching: the samples of one prompt share one KV cache (the prompt is prefilled once, batch 1,
 * and the cache tiled); the inner SDE loop and the readout run over all rows of a chunk of prompts
 * (≤ maxBatch rows) at once, so the score network and the readout see one batch per step.
 * Randomness: every draw (initial spins, Wiener increments, precession planes, softmax readout)
 * comes from streams forked from `seed`; the same options give the same tokens.
 * Non-finite values: generation stops at the first token whose reverse run (or context field)
 * became non-finite; the rows keep the tokens made so far and carry `error` naming the token and
 * step (the CLI prints them and exits 2).
 */
import * as tf from '@tensorflow/tfjs-core';
import { uniformSpinRows } from '../src/core/sphere.js';
import { UserError } from '../src/errors.js';
import { checkFieldSource, contextFields, DEFAULT_FIELD_SOURCE, fieldSourceId, type FieldSource } from '../src/field/source.js';
import type { LanguageModel, ModelCache } from '../src/model/engine.js';
import type { Tokenizer } from '../src/model/tokenizer.js';
import { makeRng } from '../src/rng.js';
import { GuidedDrift } from './drift.js';
import { INTEGRATORS } from './integrators/index.js';
import { checkGuidedOptions, checkSchedule, DEFAULT_READOUT_TEMPERATURE, DEFAULT_STEPS, defaultSchedule, type GuidedOptions } from './options.js';
import { TokenReadout } from './readout.js';
import { integrateReverse } from './reverse.js';
import type { ScoreModelMeta } from '../src/score/contract.js';

export type { GuidedOptions, TokenEvent } from './options.js';

/** What guided generation needs of a loaded model: the forward pass and its tokenizer (a {@link LoadedModel} fits). */
export interface GuidedLm {
  /** Any engine (src/model/engine.ts): the context fields come from its async forward. */
  model: LanguageModel;
  tokenizer: Pick<Tokenizer, 'encode' | 'decode' | 'eosId'>;
}

/** Per generated token. */
export interface TokenTrace {
  /** |N_proj| of the context the token was generated from. */
  fieldNorm: number;
  /** cos(S_final, ê_chosen) and cos(S_final, ê_runnerUp): the readout margin. */
  cosChosen: number;
  cosRunnerUp: number;
  runnerUp: number;
  /** Reverse SDE steps run. */
  steps: number;
}

/** One guided continuation (one per prompt × sample, prompt-major), with a per-token trace. */
export interface GuidedResult {
  prompt: string;
  promptIndex: number;
  sample: number;
  /** The prompt's token ids as fed to the model (after --truncate left). */
  promptTokens: number[];
  /** The generated continuation (decoded `tokens`). */
  text: string;
  tokens: number[];
  trace: TokenTrace[];
  /** Set when generation stopped (non-finite value); the tokens before it are kept. */
  error?: string;
}

interface Group {
  promptIndex: number;
  prompt: string;
  ids: number[];
  rows: GuidedResult[];
  cache: ModelCache | null;
  field: tf.Tensor | null; // [samples, d]
}

/** Encode and fit each prompt into the context (prompt + tokens − 1 positions are fed). */
export function encodePrompts(lm: GuidedLm, o: Pick<GuidedOptions, 'tokens' | 'prompts' | 'promptIds' | 'truncate'>): { text: string; ids: number[] }[] {
  const nPos = lm.model.nPositions;
  const room = nPos - (o.tokens - 1);
  if (room < 1) throw new UserError('E_ARG', `--tokens ${o.tokens} does not fit the model's context of ${nPos} positions (at most ${nPos} new tokens)`);
  const raw = o.promptIds ?? o.prompts!.map((p) => lm.tokenizer.encode(p));
  return raw.map((ids0, i) => {
    const text = o.prompts?.[i] ?? lm.tokenizer.decode(ids0);
    let ids = ids0.length > 0 ? ids0.slice() : [lm.tokenizer.eosId];
    for (const t of ids)
      if (!Number.isInteger(t) || t < 0 || t >= lm.model.vocab)
        throw new UserError('E_INPUT', `prompt ${i + 1}: token id ${t} is outside the vocabulary [0, ${lm.model.vocab})`);
    if (ids.length > room) {
      if (o.truncate !== 'left') {
        if (ids.length > nPos)
          throw new UserError(
            'E_INPUT',
            `prompt ${i + 1} is longer than the model's context (${ids.length} > ${nPos} tokens); shorten it, or use --truncate left to keep its last tokens`,
          );
        throw new UserError(
          'E_INPUT',
          `prompt ${i + 1} (${ids.length} tokens) + ${o.tokens} new tokens exceed the model's context of ${nPos} positions; use fewer --tokens, or --truncate left to keep the prompt's last tokens`,
        );
      }
      ids = ids.slice(ids.length - room);
    }
    return { text, ids };
  });
}

/** The field source must exist in the model; a score must match the model's d and vocabulary and the source. */
export function checkModelCompat(model: LanguageModel, source: FieldSource, meta: ScoreModelMeta | null): void {
  const bad = checkFieldSource(source, model.nLayer, model.nHead);
  if (bad) throw new UserError('E_ARG', `--field-source ${fieldSourceId(source)}: ${bad}`);
  if (!meta) return;
  const mismatch: string[] = [];
  if (meta.d !== model.dModel) mismatch.push(`d = ${meta.d}, the model has d = ${model.dModel}`);
  if (meta.vocab !== model.vocab) mismatch.push(`vocabulary ${meta.vocab}, the model has ${model.vocab}`);
  if (meta.fieldSource !== fieldSourceId(source)) mismatch.push(`field source ${meta.fieldSource}, sampling uses ${fieldSourceId(source)}`);
  if (mismatch.length) {
    throw new UserError(
      'E_CHECKPOINT',
      `the score checkpoint was made for another model or field (${mismatch.join('; ')}); pass a matching --score (and --field-source), or --score none`,
    );
  }
}

/**
 * Prefill the prompt into a fresh cache and return the context field of its last position tiled to
 * `n` rows [n, d], with the cache holding n rows: the prompt runs once (batch 1) and the cache is
 * tiled (`ModelCache.tile`); an engine whose cache cannot tile prefills the prompt repeated n times.
 */
export async function prefill(model: LanguageModel, ids: number[], source: FieldSource, n: number): Promise<{ cache: ModelCache; field: tf.Tensor }> {
  let cache = model.newCache();
  try {
    if (n > 1 && typeof (cache as Partial<ModelCache>).tile !== 'function') {
      return {
        cache,
        field: await contextFields(
          model,
          Array.from({ length: n }, () => ids),
          source,
          cache,
        ),
      }; // [n, d]
    }
    const f = await contextFields(model, [ids], source, cache); // [1, d]
    if (n > 1) {
      const tiled = cache.tile(n);
      cache.dispose();
      cache = tiled;
    }
    const field = n > 1 ? tf.tile(f, [n, 1]) : f; // [n, d]
    if (field !== f) f.dispose();
    return { cache, field };
  } catch (e) {
    cache.dispose();
    throw e;
  }
}

/** Generate `tokens` new tokens for every (prompt, sample) with the guided reverse SDE. */
export async function generateGuided(lm: GuidedLm, opts: GuidedOptions): Promise<GuidedResult[]> {
  checkGuidedOptions(opts);
  const { model } = lm;
  const source: FieldSource = opts.fieldSource ?? DEFAULT_FIELD_SOURCE;
  const score = opts.score ?? null;
  checkModelCompat(model, source, score?.meta ?? null);
  const schedule = opts.schedule ?? score?.meta.schedule ?? defaultSchedule(model.dModel);
  checkSchedule(schedule);
  const samples = opts.samples ?? 1;
  const steps = opts.steps ?? DEFAULT_STEPS;
  const integrator = INTEGRATORS[opts.integrator ?? 'heun'];
  const readoutKind = opts.readout ?? 'nearest';
  const temperature = opts.readoutTemperature ?? DEFAULT_READOUT_TEMPERATURE;
  const eta = opts.eta ?? score?.meta.eta ?? 1;
  // How N enters the η term, and where the run ends: as the score was trained (src/score/scoreNet.ts)
  const saved = score?.meta;
  const fieldScale = opts.fieldScale ?? saved?.fieldScaling ?? 'unit';
  const tMin = opts.tMin ?? (saved !== undefined && saved.tMin < schedule.T ? saved.tMin : undefined);
  const llg = opts.lambda !== undefined ? { lambda: opts.lambda, gamma: opts.gamma, precession: opts.precession } : null;
  const maxBatch = opts.maxBatch ?? 64;
  const prof = opts.profile;
  const d = model.dModel;
  const clock = () => performance.now();

  const prompts = encodePrompts(lm, opts);
  const results: GuidedResult[] = [];
  const groups: Group[] = prompts.map((p, promptIndex) => {
    const rows = Array.from({ length: samples }, (_, sample) => ({
      prompt: p.text,
      promptIndex,
      sample,
      promptTokens: p.ids,
      text: '',
      tokens: [] as number[],
      trace: [] as TokenTrace[],
    }));
    results.push(...rows);
    return { promptIndex, prompt: p.text, ids: p.ids, rows, cache: null, field: null };
  });

  // chunks of whole prompts with at most maxBatch rows (at least one prompt each)
  const chunks: Group[][] = [];
  for (const g of groups) {
    const last = chunks[chunks.length - 1];
    if (last && (last.length + 1) * samples <= maxBatch) last.push(g);
    else chunks.push([g]);
  }

  const embed = model.params().get('embed.W_E')!; // [vocab, d]
  const readout = new TokenReadout(embed, lm.tokenizer.eosId < model.vocab ? [lm.tokenizer.eosId] : []);
  const master = makeRng(opts.seed ?? 0);
  let stopped: string | null = null;
  try {
    for (const [c, chunk] of chunks.entries()) {
      if (stopped) {
        for (const g of chunk) for (const r of g.rows) r.error = `not generated: ${stopped}`;
        continue;
      }
      const rngInit = master.fork(`chunk${c}/init`);
      const rngNoise = master.fork(`chunk${c}/noise`);
      const rngPrec = master.fork(`chunk${c}/precession`);
      const rngRead = master.fork(`chunk${c}/readout`);
      const rows = chunk.flatMap((g) => g.rows);
      try {
        let t0 = clock();
        for (const g of chunk) {
          const p = await prefill(model, g.ids, source, samples);
          g.cache = p.cache;
          g.field = p.field; // [samples, d]
        }
        if (prof) prof.lmMs += clock() - t0;
        for (let k = 0; k < opts.tokens; k++) {
          t0 = clock();
          const Nt =
            chunk.length === 1
              ? chunk[0].field!
              : tf.concat(
                  chunk.map((g) => g.field!),
                  0,
                ); // [rows, d]
          const N = Float32Array.from(Nt.dataSync()); // host rows [rows·d]
          if (chunk.length > 1) Nt.dispose();
          const norms = rows.map((_, i) => Math.hypot(...N.subarray(i * d, (i + 1) * d)));
          const badField = norms.findIndex((x) => !Number.isFinite(x));
          let S: Float32Array | null = null;
          let failure: string | null = null;
          if (badField >= 0) failure = `non-finite context field at token ${k + 1} (prompt ${rows[badField].promptIndex}, sample ${rows[badField].sample})`;
          else {
            const sde = new GuidedDrift({ N, d, eta, schedule, score, llg, fieldScale, rng: rngPrec, steer: opts.steer });
            try {
              const run = integrateReverse(uniformSpinRows(rows.length, d, rngInit), sde, { integrator, steps, T: schedule.T, tMin, rng: rngNoise });
              S = run.S;
              if (run.nonFinite) {
                const r = rows[run.nonFinite.row];
                failure = `non-finite value in the reverse SDE at token ${k + 1}, step ${run.nonFinite.step} of ${steps} (prompt ${r.promptIndex}, sample ${r.sample}); try more --steps or a smaller --eta`;
              }
            } finally {
              sde.dispose();
            }
          }
          if (prof) prof.sdeMs += clock() - t0;
          if (failure) {
            stopped = failure;
            for (const r of rows) r.error = failure;
            break;
          }
          t0 = clock();
          const St = tf.tensor2d(S!, [rows.length, d]); // [rows, d]
          const out = readout.read(St, readoutKind, temperature, rngRead);
          St.dispose();
          if (prof) prof.readoutMs += clock() - t0;
          rows.forEach((r, i) => {
            r.tokens.push(out.ids[i]);
            r.trace.push({ fieldNorm: norms[i], cosChosen: out.cosChosen[i], cosRunnerUp: out.cosRunnerUp[i], runnerUp: out.runnerUp[i], steps });
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
            t0 = clock();
            for (const g of chunk) {
              const next = await contextFields(
                model,
                g.rows.map((r) => [r.tokens[k]]),
                source,
                g.cache!,
              ); // [samples, d]
              g.field!.dispose();
              g.field = next;
            }
            if (prof) prof.lmMs += clock() - t0;
          }
          await Promise.resolve(); // let streamed output flush between tokens
        }
      } finally {
        for (const g of chunk) {
          g.cache?.dispose();
          g.field?.dispose();
          g.cache = null;
          g.field = null;
        }
      }
    }
  } finally {
    readout.dispose();
  }
  for (const r of results) r.text = r.tokens.length > 0 ? lm.tokenizer.decode(r.tokens) : '';
  return results;
}
