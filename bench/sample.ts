/**
 * Section `sample`: cost of attention-guided spin-diffusion generation (sampling/generate.ts,
 * Bhattacharjee & Lee Eq. 14) against greedy KV-cached decoding on the same model, per token, at
 * K = 50 reverse steps, batch 1 and 16; and the cost of the token readout against one unembedding
 * matmul. Targets (issues 6, 10): guided ≤ 3× greedy per token on the default inference engine
 * (ort where it loads, so against the faster greedy); readout ≤ 2× the matmul. Printed without a
 * target (issue 14): the per-token cost of the euler, SIB midpoint and Depondt–Mertens integrators
 * as ratios against heun (no score, interleaved in the same run), and of the Brownian DDPM sampler
 * (sampling/euclidean.ts, models/decisive/euclidean when present) against heun with the decisive
 * residual score of the same network size (models/decisive/guided). The guided runs use the library's
 * default, one thread for the reverse SDE; at batch 16 the score run is also timed with the engine's
 * threads (resolveThreads(): SPINBATH_THREADS, else the cores) for the reverse SDE
 * (sampling/reversePool.ts): the guided-threads row, steady per-token times without start-up.
 *
 * Model: the embedded model (models/brown-small) when present, else random weights of its config
 * (configs/lm/brown-small.json: 4 layers × 4 heads, d = 128, vocabulary 8257). Score: the shipped
 * models/brown-small/score when present, else a random network of configs/score/brown-small.json's
 * shape, which costs what the trained one costs.
 *
 * Register in bench/sections.ts (`import { sampleSection } from './sample.js'`), or run alone:
 *   npx tsx bench/sample.ts [--backend wasm]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { matmul } from '../src/core/linalg.js';
import { normalizeSpins } from '../src/core/sphere.js';
import type { LanguageModel } from '../src/model/engine.js';
import { Gpt2Model } from '../src/model/gpt2.js';
import { embeddedModelDir, loadModel, resolveThreads } from '../src/model/load.js';
import { packageRoot } from '../src/model/tokenizer.js';
import type { Gpt2Config } from '../src/model/weights.js';
import { makeRng, normalArray } from '../src/rng.js';
import { randomGpt2Weights } from '../src/model/randomWeights.js';
import { initParams, type NetworkConfig } from '../src/score/network.js';
import { loadScoreModel, NetScoreModel, type ScoreNetMeta } from '../src/score/scoreNet.js';
import type { ScoreModel } from '../src/score/contract.js';
import { generateEuclidean } from '../sampling/euclidean.js';
import { generateGuided, type GuidedLm } from '../sampling/generate.js';
import { GuidedDrift } from '../sampling/drift.js';
import { INTEGRATORS, type IntegratorName } from '../sampling/integrators/index.js';
import { integrateReverse } from '../sampling/reverse.js';
import { uniformSpinRows } from '../src/core/sphere.js';
import { isEuclidDir, loadEuclidModel, type EuclidModel } from '../src/score/euclid.js';
import { defaultSchedule } from '../sampling/options.js';
import { TokenReadout } from '../sampling/readout.js';
import { benchIds, decode } from './forward.js';
import { cpuMs, median, target, timeIt, type BenchContext, type BenchRow, type BenchTarget, type Section } from './common.js';

const PROMPT = 32;
const TOKENS = 24;
const K = 50;

interface Setup {
  lm: GuidedLm;
  label: string;
  score: ScoreModel;
  dispose(): void;
}

async function setup(): Promise<Setup> {
  const dir = embeddedModelDir();
  if (existsSync(join(dir, 'config.json'))) {
    const loaded = await loadModel(undefined, { engine: 'auto' });
    const scoreDir = join(dir, 'score');
    const score = existsSync(scoreDir) ? await loadScoreModel(scoreDir) : randomScore(loaded.model);
    return { lm: loaded, label: `embedded brown-small, ${loaded.engine} engine`, score, dispose: () => (score.dispose(), loaded.dispose()) };
  }
  const cfg = JSON.parse(readFileSync(join(packageRoot(), 'configs', 'lm', 'brown-small.json'), 'utf8')) as {
    model: { n_layer: number; n_head: number; n_embd: number; n_positions: number };
  };
  const config: Partial<Gpt2Config> = { ...cfg.model, vocab_size: 8257 };
  const w = randomGpt2Weights(config, 0);
  const model = Gpt2Model.fromWeights(w);
  w.tensors.clear();
  const tokenizer = { encode: () => [0], decode: () => '', eosId: 8256 };
  const score = randomScore(model);
  return { lm: { model, tokenizer }, label: 'random weights, brown-small config', score, dispose: () => (score.dispose(), model.dispose()) };
}

/** A random score network of the brown-small score config's shape. */
function randomScore(model: LanguageModel): ScoreModel {
  const cfg = JSON.parse(readFileSync(join(packageRoot(), 'configs', 'score', 'brown-small.json'), 'utf8')) as {
    network: { width: number; depth: number; activation: NetworkConfig['activation']; time_embedding: number };
  };
  const { width, depth, activation, time_embedding } = cfg.network;
  const network: NetworkConfig = { d: model.dModel, width, depth, activation, timeEmbedding: time_embedding, condition: true };
  const schedule = defaultSchedule(model.dModel);
  const meta: ScoreNetMeta = {
    format: 'spinbath-score/1',
    d: model.dModel,
    vocab: model.vocab,
    fieldSource: 'final',
    schedule,
    eta: 0.5,
    modelHash: 'bench',
    tMin: 0.02,
    fieldScaling: 'unit',
    network,
    norm: { logS2Min: -12, logS2Max: -2, logNMean: 2, logNStd: 1 },
    training: { steps: 0, objective: 'dsm', weighting: 'sigma2' },
  };
  return new NetScoreModel(meta, initParams(network, 0));
}

/** Greedy KV-cached decoding: ms per token (batch B rows), after a PROMPT-token prefill. */
async function greedyMsPerToken(m: LanguageModel, B: number, tokens: number): Promise<number> {
  const { decodeMs } = await decode(m, B, PROMPT, tokens);
  return decodeMs / tokens;
}

/** Guided generation: ms per token (all B rows), from the difference of a 1-token and a (1+tokens)-token run. */
async function guidedMsPerToken(lm: GuidedLm, B: number, tokens: number, o: { score: ScoreModel | null; integrator?: IntegratorName; threads?: number }) {
  const promptIds = [benchIds(1, PROMPT, lm.model.vocab, 1)[0]];
  const base = { promptIds, samples: B, steps: K, score: o.score, integrator: o.integrator, seed: 1, threads: o.threads ?? 1 };
  const p1 = { lmMs: 0, sdeMs: 0, readoutMs: 0 };
  const pN = { lmMs: 0, sdeMs: 0, readoutMs: 0 };
  let t0 = performance.now();
  await generateGuided(lm, { ...base, tokens: 1, profile: p1 });
  const t1 = performance.now() - t0;
  t0 = performance.now();
  const stamps: number[] = []; // when row 0's token k was chosen
  await generateGuided(lm, { ...base, tokens: 1 + tokens, profile: pN, onToken: (e) => void (e.row === 0 && stamps.push(performance.now())) });
  const tN = performance.now() - t0;
  const per = (a: number, b: number) => (b - a) / tokens;
  return {
    ms: per(t1, tN),
    lm: per(p1.lmMs, pN.lmMs),
    sde: per(p1.sdeMs, pN.sdeMs),
    readout: per(p1.readoutMs, pN.readoutMs),
    /** Token 0 to token `tokens` of the long run: the steady per-token time, without the start-up (prefill, workers). */
    steady: (stamps[tokens] - stamps[0]) / tokens,
  };
}

/**
 * The reverse run alone (what an integrator changes): ms of one K-step run of n rows in d dimensions
 * (plain drift, η = 2, default schedule, no score), per integrator, interleaved over rounds; CPU time
 * (cpuMs) rather than wall time, which a loaded machine disturbs less.
 */
function reverseRunMs(n: number, d: number, rounds = 7): Record<IntegratorName, number> {
  const rng = makeRng('bench-reverse');
  const N = Float32Array.from(normalArray(rng, n * d));
  const S0 = uniformSpinRows(n, d, rng);
  const names = ['heun', 'euler', 'midpoint', 'depondt'] as const;
  const times: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++)
    for (const name of names) {
      const sde = new GuidedDrift({ N, d, eta: 2, schedule: defaultSchedule(d) });
      const run = () => void integrateReverse(S0, sde, { integrator: INTEGRATORS[name], steps: K, T: 1, rng: makeRng(`bench-reverse/${r}`) });
      run(); // warm-up
      const c0 = cpuMs();
      for (let k = 0; k < 5; k++) run();
      times[name].push((cpuMs() - c0) / 5);
      sde.dispose();
    }
  return Object.fromEntries(names.map((k) => [k, median(times[k])])) as Record<IntegratorName, number>;
}

/** The Brownian DDPM sampler: ms per token (all B rows), from the difference of a 1-token and a (1+tokens)-token run. */
async function euclidMsPerToken(lm: GuidedLm, B: number, tokens: number, ddpm: EuclidModel): Promise<number> {
  const promptIds = [benchIds(1, PROMPT, lm.model.vocab, 1)[0]];
  const base = { promptIds, samples: B, steps: K, ddpm, seed: 1 };
  let t0 = performance.now();
  await generateEuclidean(lm, { ...base, tokens: 1 });
  const t1 = performance.now() - t0;
  t0 = performance.now();
  await generateEuclidean(lm, { ...base, tokens: 1 + tokens });
  return (performance.now() - t0 - t1) / tokens;
}

/** The decisive benchmark's equal-network pair (Brownian DDPM, guided residual score) when shipped for this model. */
async function decisivePair(model: LanguageModel): Promise<{ ddpm: EuclidModel; score: ScoreModel } | null> {
  const e = join(packageRoot(), 'models', 'decisive', 'euclidean');
  const g = join(packageRoot(), 'models', 'decisive', 'guided');
  if (!isEuclidDir(e) || !existsSync(join(g, 'score.json'))) return null;
  const ddpm = loadEuclidModel(e);
  const score = await loadScoreModel(g);
  if (ddpm.meta.d !== model.dModel || score.meta.d !== model.dModel) {
    ddpm.dispose();
    score.dispose();
    return null;
  }
  return { ddpm, score };
}

/** Readout (nearest, with read-back) vs one unembedding matmul [n, d]×[d, vocab] (with read-back). */
function readoutRatio(table: tf.Tensor, n: number): { readoutMs: number; matmulMs: number } {
  const [V, d] = table.shape as [number, number];
  const ro = new TokenReadout(table, [V - 1]);
  const WT = tf.transpose(table); // [d, vocab], as the model's unembedding
  const S = normalizeSpins(tf.tensor2d(normalArray(makeRng('ro'), n * d), [n, d]));
  const reps = 15;
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < 3; r++) {
    a.push(timeIt(() => void ro.nearest(S), reps, 2).ms);
    b.push(timeIt(() => tf.tidy(() => matmul(S, WT)).dataSync() && undefined, reps, 2).ms);
  }
  ro.dispose();
  tf.dispose([WT, S]);
  return { readoutMs: median(a), matmulMs: median(b) };
}

export const sampleSection: Section = {
  name: 'sample',
  description: 'guided spin-diffusion sampling (K = 50) vs greedy decoding; readout vs unembedding',
  async run(ctx: BenchContext) {
    const s = await setup();
    const rows: BenchRow[] = [];
    const targets: BenchTarget[] = [];
    const net = (s.score.meta as { network?: NetworkConfig }).network;
    const data: Record<string, unknown> = {
      engine: s.lm.model.engine,
      model: s.label,
      config: { ...s.lm.model.config },
      score_network: net,
      K,
      prompt: PROMPT,
      tokens: TOKENS,
    };
    const threads = resolveThreads(); // the engine's threads: the guided-threads row's reverse SDE
    data.threads = threads;
    if (net) ctx.log(`score network: width ${net.width}, depth ${net.depth}, ${net.activation}; guided-threads row: reverse SDE on ${threads} threads`);
    const pair = await decisivePair(s.lm.model);
    if (!pair) ctx.log('models/decisive/{euclidean,guided} not found for this model: no Brownian DDPM row');
    try {
      for (const B of [1, 16]) {
        await greedyMsPerToken(s.lm.model, B, 2); // warm-up
        await guidedMsPerToken(s.lm, B, 1, { score: null });
        const g: number[] = [];
        const runs: Record<string, { ms: number; lm: number; sde: number; readout: number; steady: number }[]> = {
          none: [],
          score: [],
          euler: [],
          midpoint: [],
          depondt: [],
          decisive: [],
          scoreThreads: [],
        };
        const euclid: number[] = [];
        const threaded = B > 1 && threads > 1; // the guided-threads row: the score run on `threads` threads too
        for (let r = 0; r < 3; r++) {
          // interleaved, so that a change of machine load hits both
          g.push(await greedyMsPerToken(s.lm.model, B, TOKENS));
          runs.none.push(await guidedMsPerToken(s.lm, B, TOKENS, { score: null }));
          runs.score.push(await guidedMsPerToken(s.lm, B, TOKENS, { score: s.score }));
          for (const integrator of ['euler', 'midpoint', 'depondt'] as const)
            runs[integrator].push(await guidedMsPerToken(s.lm, B, TOKENS, { score: null, integrator }));
          if (pair) {
            runs.decisive.push(await guidedMsPerToken(s.lm, B, TOKENS, { score: pair.score }));
            euclid.push(await euclidMsPerToken(s.lm, B, TOKENS, pair.ddpm));
          }
          if (threaded) runs.scoreThreads.push(await guidedMsPerToken(s.lm, B, TOKENS, { score: s.score, threads }));
        }
        const greedy = median(g);
        rows.push({ name: `greedy decode, batch ${B}`, value: (1000 * B) / greedy, unit: 'tokens/s', note: `${greedy.toFixed(2)} ms/token-step` });
        const pick = (xs: { ms: number; lm: number; sde: number; readout: number; steady: number }[]) => xs.slice().sort((x, y) => x.ms - y.ms)[1];
        for (const [name, label] of [
          ['none', 'heun, no score'],
          ['score', `heun, score net${net ? ` (width ${net.width}, depth ${net.depth})` : ''}`],
          ['euler', 'euler, no score'],
          ['midpoint', 'SIB midpoint, no score'],
          ['depondt', 'Depondt–Mertens, no score'],
        ] as const) {
          const m = pick(runs[name]);
          const ratio = m.ms / greedy;
          rows.push({
            name: `guided K=${K} ${label}, batch ${B}`,
            value: (1000 * B) / m.ms,
            unit: 'tokens/s',
            note: `${m.ms.toFixed(2)} ms/step = ${ratio.toFixed(2)}× greedy (LM ${m.lm.toFixed(2)}, SDE ${m.sde.toFixed(2)}, readout ${m.readout.toFixed(2)} ms)`,
          });
          if (name === 'none' || name === 'score') targets.push(target(`guided (${label}) / greedy per token, batch ${B}`, ratio, '×', 'max', 3));
        }
        // integrator cost per token against heun (no target): the reverse run alone, interleaved, CPU time
        const rr = reverseRunMs(B, s.lm.model.dModel);
        const heun = pick(runs.none).ms;
        for (const name of ['euler', 'midpoint', 'depondt'] as const) {
          const m = pick(runs[name]);
          rows.push({
            name: `${name} / heun, reverse run per token (K=${K}, no score), batch ${B}`,
            value: rr[name] / rr.heun,
            unit: '×',
            note: `${rr[name].toFixed(3)} vs ${rr.heun.toFixed(3)} ms CPU; whole token ${m.ms.toFixed(2)} vs ${heun.toFixed(2)} ms`,
          });
        }
        data[`reverse_run_cpu_ms_batch${B}`] = rr;
        if (pair) {
          const e = median(euclid);
          const d = pick(runs.decisive).ms;
          rows.push({
            name: `Brownian DDPM / heun per token (K=${K}, equal networks), batch ${B}`,
            value: e / d,
            unit: '×',
            note: `${e.toFixed(2)} vs ${d.toFixed(2)} ms/step (models/decisive/euclidean vs guided); ${(e / heun).toFixed(2)}× heun without a score`,
          });
        }
        if (threaded) {
          const one = pick(runs.score);
          const many = pick(runs.scoreThreads);
          rows.push({
            name: `guided-threads score, batch ${B}: 1 vs ${threads}`,
            value: one.steady / many.steady,
            unit: '× faster',
            note: `steady per token: 1 thread ${one.steady.toFixed(2)} ms (${(one.steady / greedy).toFixed(2)}× greedy), ${threads} threads ${many.steady.toFixed(2)} ms (${(many.steady / greedy).toFixed(2)}×); with start-up ${one.ms.toFixed(2)} / ${many.ms.toFixed(2)} ms`,
          });
        }
        data[`batch${B}`] = { greedy_ms: g, runs, euclid_ms: euclid };
        ctx.log(`batch ${B}: greedy ${greedy.toFixed(2)} ms/token-step`);
      }
      const table = s.lm.model.params().get('embed.W_E')!;
      for (const n of [1, 16]) {
        const r = readoutRatio(table, n);
        rows.push({
          name: `readout (nearest) n=${n}`,
          value: r.readoutMs,
          unit: 'ms',
          note: `${(r.readoutMs / r.matmulMs).toFixed(2)}× the unembedding matmul (${r.matmulMs.toFixed(3)} ms)`,
        });
        targets.push(target(`readout / unembedding matmul, n=${n}`, r.readoutMs / r.matmulMs, '×', 'max', 2));
        data[`readout_n${n}`] = r;
      }
    } finally {
      pair?.ddpm.dispose();
      pair?.score.dispose();
      s.dispose();
    }
    return { rows, targets, data };
  },
};

// standalone: npx tsx bench/sample.ts [--backend NAME]
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { useBackend } = await import('../src/backend.js');
  const { BenchContext } = await import('./common.js');
  const i = process.argv.indexOf('--backend');
  const backend = await useBackend(i > 0 ? process.argv[i + 1] : undefined);
  const ctx = new BenchContext(backend);
  const r = await sampleSection.run(ctx);
  ctx.dispose();
  for (const row of r.rows) console.log(`${row.name.padEnd(44)} ${row.value.toFixed(2).padStart(10)} ${row.unit.padEnd(9)} ${row.note ?? ''}`);
  for (const t of r.targets ?? []) console.log(`${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.value.toFixed(2)} ${t.unit} (target ≤ ${t.threshold})`);
}
