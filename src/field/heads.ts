/**
 * Head analysis across a prompt set (Bhattacharjee & Lee, Sec. III–IV, Appendix D): the Pearson
 * correlation of every head's ΔL_theory with the model's ΔL_actual, head ablations (BL Fig. 4), the
 * decision landscape of one head (BL Fig. 2) and the global-temperature sweep (BL Fig. 3, BL Eqs. 6–8).
 */
import * as tf from '@tensorflow/tfjs-core';
import { matmul } from '../core/linalg.js';
import type { LanguageModel } from '../model/engine.js';
import type { Hook } from '../model/hooks.js';
import { meanAblateHeads, zeroAblateHeads, type HeadRef } from '../model/interventions.js';
import { extractPromptFields, tokenDirections, type FieldMode, type PromptFields } from './extract.js';
import type { EncodedPrompt } from './prompts.js';
import { pearson } from './stats.js';

/** One head's Pearson r and p of ΔL_theory vs ΔL_actual, with its per-prompt theory values. */
export interface HeadResult {
  layer: number;
  head: number;
  /** Pearson r of ΔL_theory with ΔL_actual across prompts, and its two-sided p-value. */
  r: number;
  p: number;
  /** ΔL_theory per prompt, in prompt order. */
  theory: number[];
  /** The same for the LN-scaled variant. */
  r_ln: number;
  p_ln: number;
  theory_ln: number[];
}

/** Every head's correlation of ΔL_theory with ΔL_actual over the prompts, ranked by |r| (BL Table I). */
export interface HeadAnalysis {
  mode: FieldMode;
  prompts: { prompt: string; good: string; bad: string; good_id: number; bad_id: number; actual: number }[];
  /** Heads ranked by |r| (NaN last). */
  heads: HeadResult[];
}

/** Options of {@link analyzeHeads}. */
export interface AnalysisOptions {
  /** Called after each prompt. */
  onPrompt?: (done: number, total: number) => void;
  /** Keep each prompt's final logits (for the temperature sweep). */
  keepLogits?: boolean;
}

/** Extract every head's field for every prompt and correlate ΔL_theory with ΔL_actual (BL Sec. III; one forward per prompt). */
export async function analyzeHeads(
  model: LanguageModel,
  prompts: EncodedPrompt[],
  mode: FieldMode,
  opts: AnalysisOptions = {},
): Promise<{ analysis: HeadAnalysis; logits: Float32Array[] }> {
  const fields: PromptFields[] = [];
  const logits: Float32Array[] = [];
  for (const [i, p] of prompts.entries()) {
    const f = await extractPromptFields(model, p.ids, p.goodId, p.badId, mode);
    if (opts.keepLogits) logits.push(f.logits);
    f.logits = new Float32Array(0);
    fields.push(f);
    opts.onPrompt?.(i + 1, prompts.length);
  }
  const actual = fields.map((f) => f.actual);
  const heads: HeadResult[] = [];
  for (let l = 0; l < model.nLayer; l++) {
    for (let h = 0; h < model.nHead; h++) {
      const idx = l * model.nHead + h;
      const theory = fields.map((f) => f.theory[idx]);
      const theoryLn = fields.map((f) => f.theoryLn[idx]);
      const c = pearson(theory, actual);
      const cl = pearson(theoryLn, actual);
      heads.push({ layer: l, head: h, r: c.r, p: c.p, theory, r_ln: cl.r, p_ln: cl.p, theory_ln: theoryLn });
    }
  }
  const key = (x: HeadResult) => (Number.isNaN(x.r) ? -1 : Math.abs(x.r));
  heads.sort((a, b) => key(b) - key(a) || a.layer - b.layer || a.head - b.head);
  return {
    analysis: {
      mode,
      prompts: prompts.map((p, i) => ({ prompt: p.prompt, good: p.good, bad: p.bad, good_id: p.goodId, bad_id: p.badId, actual: actual[i] })),
      heads,
    },
    logits,
  };
}

/** BL Eqs. 6–8: mean next-token entropy (bits) and mean top-1 probability at each global temperature T. */
export function temperatureSweep(logitsList: Float32Array[], temps: number[]): { T: number; entropy_bits: number; top1: number }[] {
  return temps.map((T) => {
    let entropyBits = 0;
    let top = 0;
    for (const z of logitsList) {
      let max = -Infinity;
      for (let i = 0; i < z.length; i++) if (z[i] > max) max = z[i];
      let Z = 0;
      let s = 0; // Σ e^{u} u with u = (z − max)/T
      for (let i = 0; i < z.length; i++) {
        const u = (z[i] - max) / T;
        const e = Math.exp(u);
        Z += e;
        s += e * u;
      }
      // entropy = log Z − ⟨u⟩ (nats) → bits
      entropyBits += (Math.log(Z) - s / Z) / Math.LN2;
      top += 1 / Z;
    }
    return { T, entropy_bits: entropyBits / logitsList.length, top1: top / logitsList.length };
  });
}

/** ΔL_actual of one prompt with a set of heads ablated, next to the clean value. */
export interface AblationEffect {
  label: string;
  heads: HeadRef[];
  actual: number;
  /** Change of ΔL_actual against the unablated model. */
  delta: number;
}

/** ΔL_actual of one prompt with each head set ablated in turn (zero or batch-mean ablation of z). */
export async function ablationEffects(model: LanguageModel, p: EncodedPrompt, sets: HeadRef[][], kind: 'zero' | 'mean' = 'zero'): Promise<AblationEffect[]> {
  // The hooks are declarative interventions (src/model/interventions.ts): every engine runs them.
  const gap = async (hooks: Hook[]) => {
    const z = await model.runWithHooksAsync([p.ids], { hooks });
    try {
      const k = p.ids.length;
      const last = tf.tidy(() => tf.reshape(tf.slice(z, [0, k - 1, 0], [1, 1, model.vocab]), [model.vocab]));
      const v = last.dataSync();
      last.dispose();
      return v[p.goodId] - v[p.badId];
    } finally {
      z.dispose();
    }
  };
  const base = await gap([]);
  const out: AblationEffect[] = [{ label: 'none', heads: [], actual: base, delta: 0 }];
  for (const set of sets) {
    const hooks = kind === 'zero' ? zeroAblateHeads(set) : meanAblateHeads(set.map((s) => ({ ...s })));
    const a = await gap(hooks);
    out.push({ label: set.map((s) => `L${s.layer}H${s.head}`).join('+'), heads: set, actual: a, delta: a - base });
  }
  return out;
}

/** The decision landscape of one head for one prompt (BL Fig. 2): N₀ and the good and bad token spins in the plane of ΔS and N₀. */
export interface Landscape {
  layer: number;
  head: number;
  /** Unit axes in the head's value space: vertical = ΔS/|ΔS|, horizontal ⟂ to it (towards N₀). */
  axes: { horizontal: number[]; vertical: number[] };
  /** In-plane coordinates [horizontal, vertical]. */
  N0: [number, number];
  good: [number, number];
  bad: [number, number];
  /** ΔL_theory of this head = N₀·(S_good − S_bad). */
  gap: number;
  /** The part of N₀ outside the plane (|N₀|² = in-plane² + this²). */
  N0OutOfPlane: number;
}

/**
 * The decision landscape of head (l, h) for one prompt (BL Fig. 2): head-space token vectors
 * S_t = W_O^(h) e_t (so N₀·S_t = N_proj·e_t), the plane spanned by ΔS = S_good − S_bad and the
 * component of N₀ orthogonal to it; N₀·s colours the plane.
 */
export async function decisionLandscape(model: LanguageModel, p: EncodedPrompt, layer: number, head: number, mode: FieldMode): Promise<Landscape> {
  const f = await extractPromptFields(model, p.ids, p.goodId, p.badId, mode);
  const dh = model.dHead;
  const n0 = Array.from(f.N0.subarray((layer * model.nHead + head) * dh, (layer * model.nHead + head + 1) * dh));
  const S = tf.tidy(() => {
    const WO = tf.reshape(tf.slice(model.params().get(`blocks.${layer}.attn.W_O`)!, [head, 0, 0], [1, dh, model.dModel]), [dh, model.dModel]); // [d_head, d_model]
    const e = tokenDirections(model, [p.goodId, p.badId]); // [2, d_model]
    return matmul(e, tf.transpose(WO)); // [2, d_head]  rows S_good, S_bad
  });
  const s = S.arraySync() as number[][];
  S.dispose();
  const dot = (a: number[], b: number[]) => a.reduce((acc, x, i) => acc + x * b[i], 0);
  const dS = s[0].map((x, i) => x - s[1][i]);
  const nv = Math.sqrt(dot(dS, dS)) || 1;
  const v = dS.map((x) => x / nv);
  let hdir = n0.map((x, i) => x - dot(n0, v) * v[i]);
  let nh = Math.sqrt(dot(hdir, hdir));
  if (nh < 1e-12) {
    // N₀ ∥ ΔS: any direction orthogonal to ΔS.
    hdir = v.map((_, i) => (i === 0 ? 1 : 0));
    hdir = hdir.map((x, i) => x - dot(hdir, v) * v[i]);
    nh = Math.sqrt(dot(hdir, hdir));
  }
  const hu = hdir.map((x) => x / nh);
  const proj = (x: number[]): [number, number] => [dot(x, hu), dot(x, v)];
  const n0p = proj(n0);
  return {
    layer,
    head,
    axes: { horizontal: hu, vertical: v },
    N0: n0p,
    good: proj(s[0]),
    bad: proj(s[1]),
    gap: dot(n0, dS),
    N0OutOfPlane: Math.sqrt(Math.max(0, dot(n0, n0) - n0p[0] ** 2 - n0p[1] ** 2)),
  };
}
