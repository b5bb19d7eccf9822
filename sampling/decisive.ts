/**
 * The decisive report of issue 14 (Bhattacharjee & Lee, Sec. V E): every setting of a sweep scored
 * under several evaluators, with 95% bootstrap confidence intervals over prompts and the
 * quality–diversity Pareto frontier.
 *
 * Per setting (a run without its seed) and evaluator, over all its outputs (prompts × seeds):
 *   perplexity   exp(Σ nll / Σ scored tokens), the evaluator's NLL of the generated tokens given the
 *                prompt and the earlier generated tokens (a GPT-2 directory, or 'kn-bigram': the
 *                interpolated Kneser–Ney bigram of src/lm/ngram.ts trained on the Brown train split
 *                in the generator's tokenizer)
 *   distinct_2   per-context diversity: for each prompt, the unique token bigrams among its outputs
 *                (every seed; bigrams never cross outputs), summed over prompts, over the total number
 *                of bigrams. Unlike sweep summaries' distinct-2 (pooled over ALL outputs, so that
 *                different prompts count as diversity), this is a sum over prompts and so resamples
 *                without bias; with 3 seeds a prompt whose seeds agree scores low.
 *   hit_rate     share of generated tokens that are topic-word tokens (baselines.ts topicTokenIds)
 * Intervals: the percentile bootstrap over prompts — B resamples of the prompt indices with
 * replacement (each prompt carries its outputs of every seed), from makeRng(`decisive/<seed>`) and
 * the same resamples for every setting and evaluator (paired) — 2.5% and 97.5% quantiles.
 * Pareto (per evaluator): a setting is on the frontier when no other setting has a perplexity at
 * most its own and a distinct-2 at least its own, one of them strictly better.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tokenizer } from '../src/model/tokenizer.js';
import { scoreNgram, type TokenModel } from '../src/lm/ngram.js';
import { makeRng } from '../src/rng.js';
import { topicTokenIds } from './baselines.js';
import { evaluatorIds, type Evaluator, type GenerationRecord } from './metrics.js';
import { canonicalJson, runLabel } from './sweep-config.js';
import type { ResultLine } from './sweep.js';

export const DECISIVE_METHODS = ['guided', 'learned-score', 'euclidean-ddpm', 'greedy', 'temperature', 'top-k', 'top-p', 'steered', 'logit-bias'] as const;
export type DecisiveMethod = (typeof DECISIVE_METHODS)[number];

/** An evaluator of the report: a GPT-2 or an n-gram model in the generator's tokenizer. */
export type ReportEvaluator = { name: string; kind: 'lm'; ev: Evaluator } | { name: string; kind: 'ngram'; model: TokenModel };

export interface DecisiveRow {
  method: DecisiveMethod;
  setting: string;
  prompts: number;
  seeds: number;
  evaluator: string;
  perplexity: number;
  perplexity_lo: number;
  perplexity_hi: number;
  distinct_2: number;
  distinct_2_lo: number;
  distinct_2_hi: number;
  hit_rate: number;
  hit_rate_lo: number;
  hit_rate_hi: number;
  pareto: boolean;
  /** The setting with the lowest perplexity among those that dominate this one ('' on the frontier). */
  dominated_by: string;
}

/** The report's method of a run. */
export function methodOf(p: ResultLine['params']): DecisiveMethod {
  if (p.kind === 'euclidean') return 'euclidean-ddpm';
  if (p.kind === 'baseline') return p.logitBias ? 'logit-bias' : p.method;
  return p.method ?? (p.steer ? 'steered' : 'guided');
}

/** Per-output NLL (nats) and scored-token counts under an LM evaluator, batched by length. */
export async function perOutputNll(ev: Evaluator, records: readonly GenerationRecord[]): Promise<{ nll: Float64Array; count: Int32Array }> {
  const nll = new Float64Array(records.length);
  const count = new Int32Array(records.length);
  const model = ev.model; // any engine: only forwardAsync is called
  const rows = records.map((r, i) => ({ i, ...evaluatorIds(ev, r) })).filter((r) => r.continuation.length > 0);
  const byLen = new Map<number, typeof rows>();
  for (const r of rows) {
    const L = r.context.length + r.continuation.length - 1;
    if (!byLen.has(L)) byLen.set(L, []);
    byLen.get(L)!.push(r);
  }
  for (const [L, group] of byLen) {
    const per = Math.max(1, Math.floor(4_000_000 / (L * model.vocab)));
    for (let s = 0; s < group.length; s += per) {
      const chunk = group.slice(s, s + per);
      const logits = await model.forwardAsync(chunk.map((r) => [...r.context, ...r.continuation].slice(0, L))); // [rows, L, vocab]
      const n = tf.tidy(() => {
        const logp = tf.logSoftmax(logits, -1); // [rows, L, vocab]
        const at = tf.tensor1d(
          chunk.flatMap((r) => [...r.context, ...r.continuation].slice(1, L + 1)).map((t, j) => j * model.vocab + t),
          'int32',
        );
        return tf.neg(tf.gather(tf.reshape(logp, [-1]), at)); // [rows·L]
      });
      logits.dispose();
      const h = await n.data();
      n.dispose();
      chunk.forEach((r, b) => {
        for (let k = r.context.length - 1; k < L; k++) nll[r.i] += h[b * L + k];
        count[r.i] = L - (r.context.length - 1);
      });
    }
  }
  return { nll, count };
}

/** Per-output NLL under an n-gram model (prompt ids as context). */
export function perOutputNgram(model: TokenModel, records: readonly GenerationRecord[]): { nll: Float64Array; count: Int32Array } {
  const nll = new Float64Array(records.length);
  const count = new Int32Array(records.length);
  records.forEach((r, i) => {
    const ctx = r.promptTokens ?? [];
    const s = scoreNgram(model, [...ctx, ...(r.tokens ?? [])], Math.max(1, ctx.length));
    nll[i] = s.nll;
    count[i] = s.tokens;
  });
  return { nll, count };
}

function quantile(sorted: Float64Array, q: number): number {
  const x = q * (sorted.length - 1);
  const lo = Math.floor(x);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

/** Statistic of a multiset of prompts (weights w[p] = how often prompt p was drawn). */
type Stat = (w: Int32Array) => number;

function interval(stat: Stat, draws: Int32Array[]): [number, number] {
  const v = Float64Array.from(draws, (w) => stat(w))
    .filter(Number.isFinite)
    .sort();
  return v.length === 0 ? [NaN, NaN] : [quantile(v, 0.025), quantile(v, 0.975)];
}

/** The B bootstrap draws of prompt multiplicities [prompts] (seeded). */
export function bootstrapDraws(prompts: number, B: number, seed: number): Int32Array[] {
  const rng = makeRng(`decisive/${seed}`);
  return Array.from({ length: B }, () => {
    const w = new Int32Array(prompts);
    for (let i = 0; i < prompts; i++) w[rng.int(prompts)]++;
    return w;
  });
}

/** Pareto flags (and the best dominating index, or −1) of points (perplexity ↓, distinct-2 ↑). */
export function paretoFlags(ppl: readonly number[], d2: readonly number[]): { on: boolean[]; by: number[] } {
  const n = ppl.length;
  const on: boolean[] = [];
  const by: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = -1;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const dominates = ppl[j] <= ppl[i] && d2[j] >= d2[i] && (ppl[j] < ppl[i] || d2[j] > d2[i]);
      if (dominates && (best < 0 || ppl[j] < ppl[best])) best = j;
    }
    on.push(best < 0 && Number.isFinite(ppl[i]));
    by.push(best);
  }
  return { on, by };
}

/** The report rows: every setting × evaluator (see the file comment). */
export async function decisiveRows(
  lines: readonly ResultLine[],
  prompts: { ids: number[][]; texts?: string[] },
  evaluators: readonly ReportEvaluator[],
  tokenizer: Pick<Tokenizer, 'encode'>,
  o: { bootstrap: number; seed: number; topicWords?: string[] },
): Promise<DecisiveRow[]> {
  const P = prompts.ids.length;
  const draws = bootstrapDraws(P, o.bootstrap, o.seed);
  const topic = new Set(o.topicWords ? topicTokenIds(tokenizer, o.topicWords) : []);
  // settings in first-run order
  const groups = new Map<string, ResultLine[]>();
  for (const l of lines) {
    const { seed: _s, ...rest } = l.params;
    void _s;
    const key = canonicalJson(rest);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(l);
  }
  const settings = [...groups.values()].map((g) => {
    const records: (GenerationRecord & { promptIndex: number })[] = g.flatMap((l) =>
      l.generations.map((x) => ({
        prompt: prompts.texts?.[x.promptIndex] ?? '',
        promptTokens: prompts.ids[x.promptIndex],
        text: x.text,
        tokens: x.tokens,
        promptIndex: x.promptIndex,
      })),
    );
    // per prompt: bigram keys, token and hit counts
    const bigrams: number[][] = Array.from({ length: P }, () => []);
    const toks = new Int32Array(P);
    const hits = new Int32Array(P);
    for (const r of records) {
      const t = r.tokens ?? [];
      for (let k = 1; k < t.length; k++) bigrams[r.promptIndex].push(t[k - 1] * 1_000_003 + t[k]);
      toks[r.promptIndex] += t.length;
      for (const id of t) if (topic.has(id)) hits[r.promptIndex]++;
    }
    // per prompt: unique and total bigrams among its outputs (its seeds pooled)
    const uniq = new Float64Array(P);
    const total = new Float64Array(P);
    for (let p = 0; p < P; p++) {
      uniq[p] = new Set(bigrams[p]).size;
      total[p] = bigrams[p].length;
    }
    const distinct2: Stat = (w) => {
      let u = 0;
      let t = 0;
      for (let p = 0; p < P; p++) {
        u += w[p] * uniq[p];
        t += w[p] * total[p];
      }
      return t > 0 ? u / t : NaN;
    };
    const hitRate: Stat = (w) => {
      let h = 0;
      let n = 0;
      for (let p = 0; p < P; p++) {
        h += w[p] * hits[p];
        n += w[p] * toks[p];
      }
      return n > 0 ? h / n : NaN;
    };
    const ones = new Int32Array(P).fill(1);
    return { g, records, distinct2, hitRate, d2: distinct2(ones), d2ci: interval(distinct2, draws), hr: hitRate(ones), hrci: interval(hitRate, draws) };
  });
  const rows: DecisiveRow[] = [];
  for (const ev of evaluators) {
    const scored: { nll: Float64Array; count: Int32Array }[] = [];
    for (const s of settings) scored.push(ev.kind === 'lm' ? await perOutputNll(ev.ev, s.records) : perOutputNgram(ev.model, s.records)); // one setting at a time
    const part: DecisiveRow[] = settings.map((s, si) => {
      const { nll, count } = scored[si];
      const pn = new Float64Array(P);
      const pc = new Float64Array(P);
      s.records.forEach((r, i) => {
        pn[r.promptIndex] += nll[i];
        pc[r.promptIndex] += count[i];
      });
      const ppl: Stat = (w) => {
        let a = 0;
        let b = 0;
        for (let p = 0; p < P; p++) {
          a += w[p] * pn[p];
          b += w[p] * pc[p];
        }
        return b > 0 ? Math.exp(a / b) : NaN;
      };
      const [lo, hi] = interval(ppl, draws);
      const first = s.g[0];
      return {
        method: methodOf(first.params),
        setting: runLabel(first.params),
        prompts: new Set(s.records.map((r) => r.promptIndex)).size,
        seeds: s.g.length,
        evaluator: ev.name,
        perplexity: ppl(new Int32Array(P).fill(1)),
        perplexity_lo: lo,
        perplexity_hi: hi,
        distinct_2: s.d2,
        distinct_2_lo: s.d2ci[0],
        distinct_2_hi: s.d2ci[1],
        hit_rate: s.hr,
        hit_rate_lo: s.hrci[0],
        hit_rate_hi: s.hrci[1],
        pareto: false,
        dominated_by: '',
      };
    });
    const { on, by } = paretoFlags(
      part.map((r) => r.perplexity),
      part.map((r) => r.distinct_2),
    );
    part.forEach((r, i) => {
      r.pareto = on[i];
      r.dominated_by = by[i] >= 0 ? part[by[i]].setting : '';
    });
    rows.push(...part);
  }
  return rows;
}

export const DECISIVE_COLUMNS = [
  'method',
  'setting',
  'prompts',
  'seeds',
  'evaluator',
  'perplexity',
  'perplexity_lo',
  'perplexity_hi',
  'distinct_2',
  'distinct_2_lo',
  'distinct_2_hi',
  'hit_rate',
  'hit_rate_lo',
  'hit_rate_hi',
  'pareto',
  'dominated_by',
] as const;

/** summary.csv text (numbers to 6 significant digits). */
export function decisiveCsv(rows: readonly DecisiveRow[]): string {
  const cell = (v: unknown) => {
    const s = typeof v === 'number' ? (Number.isFinite(v) ? String(+v.toPrecision(6)) : '') : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [DECISIVE_COLUMNS.join(','), ...rows.map((r) => DECISIVE_COLUMNS.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}
