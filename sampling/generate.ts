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
 * and readoutTemperature, seed, truncate, maxBatch, threads (1: the reverse SDE in this thread;
 * more: its rows split over worker threads, sampling/reversePool.ts, same bytes), onToken, profile.
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
import { makeRng, type Rng } from '../src/rng.js';
import { GuidedDrift } from './drift.js';
import { INTEGRATORS } from './integrators/index.js';
import { checkGuidedOptions, checkSchedule, DEFAULT_READOUT_TEMPERATURE, DEFAULT_STEPS, defaultSchedule, type GuidedOptions } from './options.js';
import { TokenReadout } from './readout.js';
import { integrateReverse } from './reverse.js';
import { MIN_ROWS_PER_THREAD, ReversePool } from './reversePool.js';
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

/** The run-wide settings of one guided generation, resolved from the options and the score's metadata. */
interface GuidedPlan {
  source: FieldSource;
  samples: number;
  steps: number;
  integrator: (typeof INTEGRATORS)[keyof typeof INTEGRATORS];
  integratorName: keyof typeof INTEGRATORS;
  readoutKind: NonNullable<GuidedOptions['readout']>;
  temperature: number;
  /** The drift's settings (BL Eq. 14; LLG, BL Eq. 9, when `llg` is set), without the per-token field. */
  drift: Omit<ConstructorParameters<typeof GuidedDrift>[0], 'N' | 'rng'>;
  tMin: number | undefined;
  maxBatch: number;
  /** Threads of the reverse SDE (sampling/reversePool.ts). */
  threads: number;
}

/** Stage 1: validate the options against the model and the score, and resolve every default. */
function planGuided(model: LanguageModel, opts: GuidedOptions): GuidedPlan {
  checkGuidedOptions(opts);
  const source: FieldSource = opts.fieldSource ?? DEFAULT_FIELD_SOURCE;
  const score = opts.score ?? null;
  checkModelCompat(model, source, score?.meta ?? null);
  const schedule = opts.schedule ?? score?.meta.schedule ?? defaultSchedule(model.dModel);
  checkSchedule(schedule);
  // How N enters the η term, and where the run ends: as the score was trained (src/score/scoreNet.ts)
  const saved = score?.meta;
  return {
    source,
    samples: opts.samples ?? 1,
    steps: opts.steps ?? DEFAULT_STEPS,
    integrator: INTEGRATORS[opts.integrator ?? 'heun'],
    integratorName: opts.integrator ?? 'heun',
    readoutKind: opts.readout ?? 'nearest',
    temperature: opts.readoutTemperature ?? DEFAULT_READOUT_TEMPERATURE,
    drift: {
      d: model.dModel,
      eta: opts.eta ?? saved?.eta ?? 1,
      schedule,
      score,
      llg: opts.lambda !== undefined ? { lambda: opts.lambda, gamma: opts.gamma, precession: opts.precession } : null,
      fieldScale: opts.fieldScale ?? saved?.fieldScaling ?? 'unit',
      steer: opts.steer,
    },
    tMin: opts.tMin ?? (saved !== undefined && saved.tMin < schedule.T ? saved.tMin : undefined),
    maxBatch: opts.maxBatch ?? 64,
    threads: opts.threads ?? 1,
  };
}

/** Stage 2: one result row per (prompt, sample), prompt-major, grouped by prompt, in chunks of at most maxBatch rows (at least one prompt each). */
function groupRows(prompts: { text: string; ids: number[] }[], samples: number, maxBatch: number): { results: GuidedResult[]; chunks: Group[][] } {
  const results: GuidedResult[] = [];
  const chunks: Group[][] = [];
  for (const [promptIndex, p] of prompts.entries()) {
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
    const g: Group = { promptIndex, prompt: p.text, ids: p.ids, rows, cache: null, field: null };
    const last = chunks[chunks.length - 1];
    if (last && (last.length + 1) * samples <= maxBatch) last.push(g);
    else chunks.push([g]);
  }
  return { results, chunks };
}

/** The chunk's context fields as host rows N [rows·d] with their norms |N_i|. */
function hostFields(chunk: Group[], d: number): { N: Float32Array; norms: number[] } {
  const Nt =
    chunk.length === 1
      ? chunk[0].field!
      : tf.concat(
          chunk.map((g) => g.field!),
          0,
        ); // [rows, d]
  const N = Float32Array.from(Nt.dataSync()); // host rows [rows·d]
  if (chunk.length > 1) Nt.dispose();
  const rows = N.length / d;
  return { N, norms: Array.from({ length: rows }, (_, i) => Math.hypot(...N.subarray(i * d, (i + 1) * d))) };
}

/**
 * Stage 3: the spins of one token for every row of a chunk: uniform initial spins run through the
 * guided reverse SDE (BL Eq. 14) in the field N. Returns the final spins [rows·d], or why it failed.
 */
async function reverseSpins(
  plan: GuidedPlan,
  N: Float32Array,
  rows: GuidedResult[],
  k: number,
  rngs: { init: Rng; noise: Rng; precession: Rng },
  pool: ReversePool | null,
): Promise<{ S: Float32Array } | { failure: string }> {
  const run = pool && rows.length >= 2 * MIN_ROWS_PER_THREAD ? await pool.reverse(N, rngs) : reverseInThread(plan, N, rows.length, rngs);
  if (!run.nonFinite) return { S: run.S };
  const r = rows[run.nonFinite.row];
  return {
    failure: `non-finite value in the reverse SDE at token ${k + 1}, step ${run.nonFinite.step} of ${plan.steps} (prompt ${r.promptIndex}, sample ${r.sample}); try more --steps or a smaller --eta`,
  };
}

/** The reverse run of {@link reverseSpins} in the calling thread. */
function reverseInThread(plan: GuidedPlan, N: Float32Array, n: number, rngs: { init: Rng; noise: Rng; precession: Rng }) {
  const d = plan.drift.d;
  const sde = new GuidedDrift({ ...plan.drift, N, rng: rngs.precession });
  try {
    return integrateReverse(uniformSpinRows(n, d, rngs.init), sde, {
      integrator: plan.integrator,
      steps: plan.steps,
      T: plan.drift.schedule.T,
      tMin: plan.tMin,
      rng: rngs.noise,
    });
  } finally {
    sde.dispose();
  }
}

/** Stage 4: append token k of every row (with its trace) and stream it. */
function recordTokens(
  rows: GuidedResult[],
  out: { ids: number[]; cosChosen: number[]; cosRunnerUp: number[]; runnerUp: number[] },
  norms: number[],
  k: number,
  plan: GuidedPlan,
  onToken: GuidedOptions['onToken'],
): void {
  rows.forEach((r, i) => {
    r.tokens.push(out.ids[i]);
    r.trace.push({ fieldNorm: norms[i], cosChosen: out.cosChosen[i], cosRunnerUp: out.cosRunnerUp[i], runnerUp: out.runnerUp[i], steps: plan.steps });
    onToken?.({ row: r.promptIndex * plan.samples + r.sample, promptIndex: r.promptIndex, sample: r.sample, index: k, token: out.ids[i], tokens: r.tokens });
  });
}

/** Stage 5: feed token k of every row through the KV-cached forward and replace each group's field. */
async function advanceFields(model: LanguageModel, chunk: Group[], source: FieldSource, k: number): Promise<void> {
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
}

/**
 * Generate `tokens` new tokens for every (prompt, sample) with the guided reverse SDE, chunk by
 * chunk: prefill each prompt's cache and field, then per token reverse the spins in the field
 * (BL Eq. 14), read the token out (BL Sec. V D) and advance the fields with it.
 */
export async function generateGuided(lm: GuidedLm, opts: GuidedOptions): Promise<GuidedResult[]> {
  const { model } = lm;
  const plan = planGuided(model, opts);
  const { results, chunks } = groupRows(encodePrompts(lm, opts), plan.samples, plan.maxBatch);

  const embed = model.params().get('embed.W_E')!; // [vocab, d]
  const readout = TokenReadout.shared(embed, lm.tokenizer.eosId < model.vocab ? [lm.tokenizer.eosId] : []); // built once per model
  const master = makeRng(opts.seed ?? 0);
  const { score, ...drift } = plan.drift;
  const pool = ReversePool.create(plan.threads, { drift, integrator: plan.integratorName, steps: plan.steps, tMin: plan.tMin }, score ?? null);
  try {
    await generateChunks(lm, opts, plan, chunks, readout, master, pool);
  } finally {
    await pool?.close();
  }
  for (const r of results) r.text = r.tokens.length > 0 ? lm.tokenizer.decode(r.tokens) : '';
  return results;
}

/** Every chunk's tokens, in order (stages 2–5 of {@link generateGuided}). */
async function generateChunks(
  lm: GuidedLm,
  opts: GuidedOptions,
  plan: GuidedPlan,
  chunks: Group[][],
  readout: TokenReadout,
  master: Rng,
  pool: ReversePool | null,
): Promise<void> {
  const { model } = lm;
  const prof = opts.profile;
  const clock = () => performance.now();
  let stopped: string | null = null;
  for (const [c, chunk] of chunks.entries()) {
    const rows = chunk.flatMap((g) => g.rows);
    if (stopped) {
      for (const r of rows) r.error = `not generated: ${stopped}`;
      continue;
    }
    const rngs = { init: master.fork(`chunk${c}/init`), noise: master.fork(`chunk${c}/noise`), precession: master.fork(`chunk${c}/precession`) };
    const rngRead = master.fork(`chunk${c}/readout`);
    try {
      let t0 = clock();
      for (const g of chunk) {
        const p = await prefill(model, g.ids, plan.source, plan.samples);
        g.cache = p.cache;
        g.field = p.field; // [samples, d]
      }
      if (prof) prof.lmMs += clock() - t0;
      for (let k = 0; k < opts.tokens; k++) {
        t0 = clock();
        const { N, norms } = hostFields(chunk, plan.drift.d);
        const bad = norms.findIndex((x) => !Number.isFinite(x));
        const spins =
          bad >= 0
            ? { failure: `non-finite context field at token ${k + 1} (prompt ${rows[bad].promptIndex}, sample ${rows[bad].sample})` }
            : await reverseSpins(plan, N, rows, k, rngs, pool);
        if (prof) prof.sdeMs += clock() - t0;
        if ('failure' in spins) {
          stopped = spins.failure;
          for (const r of rows) r.error = spins.failure;
          break;
        }
        t0 = clock();
        const out = readout.readRows(spins.S, rows.length, plan.readoutKind, plan.temperature, rngRead); // S [rows·d]
        if (prof) prof.readoutMs += clock() - t0;
        recordTokens(rows, out, norms, k, plan, opts.onToken);
        if (k + 1 < opts.tokens) {
          t0 = clock();
          await advanceFields(model, chunk, plan.source, k);
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
}
