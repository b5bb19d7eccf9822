/**
 * The context-field extractor against independent computations: embedding mode recomputed from the
 * host weight matrices; residual mode's N_proj summing to the attention output; the LN-scaled
 * attribution summing, over every residual component, to the model's own logit gap.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { extractPromptFields } from '../../src/field/extract.js';
import { decisionLandscape, temperatureSweep } from '../../src/field/heads.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { disposeActivations } from '../../src/model/hooks.js';
import type { Gpt2Weights } from '../../src/model/weights.js';
import { randomGpt2Weights } from '../helpers/tinyGpt2.js';

const cfg = { vocab_size: 97, n_positions: 32, n_embd: 24, n_layer: 3, n_head: 4 };
let w: Gpt2Weights;
let model: Gpt2Model;
const ids = [5, 17, 3, 88, 41, 9, 60];
const good = 12;
const bad = 70;

beforeAll(async () => {
  await useBackend('wasm');
  w = randomGpt2Weights(cfg, 11);
  model = Gpt2Model.fromWeights(w);
});

/** Host matrix helpers on row-major Float32Arrays. */
const row = (t: { shape: number[]; data: Float32Array }, i: number) => Array.from(t.data.subarray(i * t.shape[1], (i + 1) * t.shape[1]));
const col = (t: { shape: number[]; data: Float32Array }, j: number) => Array.from({ length: t.shape[0] }, (_, i) => t.data[i * t.shape[1] + j]);
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);

describe('embedding mode (Appendix D)', () => {
  it('equals a direct recomputation from the weight matrices, head by head', async () => {
    const f = await extractPromptFields(model, ids, good, bad, 'embedding');
    const d = cfg.n_embd;
    const dh = d / cfg.n_head;
    const wte = w.tensors.get('wte.weight')!;
    const S = ids.map((i) => row(wte, i));
    const eGood = row(wte, good);
    const eBad = row(wte, bad);
    for (let l = 0; l < cfg.n_layer; l++) {
      const cAttn = w.tensors.get(`h.${l}.attn.c_attn.weight`)!; // [d, 3d]
      const cProj = w.tensors.get(`h.${l}.attn.c_proj.weight`)!; // [d, d]
      for (let h = 0; h < cfg.n_head; h++) {
        const proj = (s: number[], off: number) => Array.from({ length: dh }, (_, c) => dot(s, col(cAttn, off + h * dh + c)));
        const Q = proj(S[S.length - 1], 0);
        const K = S.map((s) => proj(s, d));
        const V = S.map((s) => proj(s, 2 * d));
        const logits = K.map((k) => dot(Q, k) / Math.sqrt(dh));
        const m = Math.max(...logits);
        const e = logits.map((x) => Math.exp(x - m));
        const Z = e.reduce((a, b) => a + b, 0);
        const alpha = e.map((x) => x / Z);
        const N0 = Array.from({ length: dh }, (_, c) => alpha.reduce((s, a, j) => s + a * V[j][c], 0));
        const Nproj = Array.from({ length: d }, (_, o) => N0.reduce((s, n, c) => s + n * cProj.data[(h * dh + c) * d + o], 0));
        const theory = dot(Nproj, eGood) - dot(Nproj, eBad);
        const idx = l * cfg.n_head + h;
        expect(f.theory[idx]).toBeCloseTo(theory, 4);
        alpha.forEach((a, j) => expect(f.alpha[idx * ids.length + j]).toBeCloseTo(a, 5));
      }
    }
  });
});

describe('residual mode (in situ)', () => {
  it('Σ_heads N_proj + b_O equals the attention block output at the last position (≤ 1e-5)', async () => {
    const f = await extractPromptFields(model, ids, good, bad, 'residual');
    const names = Array.from({ length: cfg.n_layer }, (_, l) => `blocks.${l}.hook_attn_out`);
    const { logits, activations } = model.runWithCache([ids], { names });
    const d = cfg.n_embd;
    const k = ids.length;
    for (let l = 0; l < cfg.n_layer; l++) {
      const out = activations.get(`blocks.${l}.hook_attn_out`)!.dataSync();
      const bias = w.tensors.get(`h.${l}.attn.c_proj.bias`)!.data;
      for (let o = 0; o < d; o++) {
        let s = bias[o];
        for (let h = 0; h < cfg.n_head; h++) s += f.Nproj[(l * cfg.n_head + h) * d + o];
        expect(Math.abs(s - out[(k - 1) * d + o])).toBeLessThanOrEqual(1e-5);
      }
    }
    logits.dispose();
    disposeActivations(activations);
  });

  it('LN-scaled attributions of every residual component sum to ΔL_actual', async () => {
    const f = await extractPromptFields(model, ids, good, bad, 'residual');
    const names = ['hook_embed', 'hook_pos_embed', ...Array.from({ length: cfg.n_layer }, (_, l) => `blocks.${l}.hook_mlp_out`)];
    const { logits, activations } = model.runWithCache([ids], { names });
    const d = cfg.n_embd;
    const k = ids.length;
    const wte = w.tensors.get('wte.weight')!;
    const gamma = w.tensors.get('ln_f.weight')!.data;
    const beta = w.tensors.get('ln_f.bias')!.data;
    const dE = row(wte, good).map((x, i) => x - row(wte, bad)[i]);
    const attribute = (v: number[]) => {
      const mean = v.reduce((a, b) => a + b, 0) / d;
      return v.reduce((s, x, i) => s + ((x - mean) / f.lnScale) * gamma[i] * dE[i], 0);
    };
    const lastRow = (name: string) =>
      Array.from(
        activations
          .get(name)!
          .dataSync()
          .subarray((k - 1) * d, k * d),
      );
    let total = dot(Array.from(beta), dE);
    for (const n of names) total += attribute(lastRow(n));
    for (let l = 0; l < cfg.n_layer; l++) total += attribute(Array.from(w.tensors.get(`h.${l}.attn.c_proj.bias`)!.data));
    for (let i = 0; i < f.theoryLn.length; i++) total += f.theoryLn[i];
    expect(total).toBeCloseTo(f.actual, 4);
    logits.dispose();
    disposeActivations(activations);
  });

  it('the decision landscape reproduces the head’s ΔL_theory in its value space', async () => {
    const f = await extractPromptFields(model, ids, good, bad, 'residual');
    const p = { prompt: 'x', good: 'g', bad: 'b', ids, goodId: good, badId: bad, warnings: [] };
    const ls = await decisionLandscape(model, p, 1, 2, 'residual');
    expect(ls.gap).toBeCloseTo(f.theory[1 * cfg.n_head + 2], 4);
    // In-plane: ΔL = N₀·(S_good − S_bad) uses only the vertical axis.
    expect(ls.N0[1] * (ls.good[1] - ls.bad[1])).toBeCloseTo(ls.gap, 4);
    expect(Math.abs(ls.good[0] - ls.bad[0])).toBeLessThan(1e-5);
  });
});

describe('temperature sweep', () => {
  it('gives log2(V) bits and 1/V at T → ∞ and 0 bits, top-1 = 1 at T → 0 for a peaked distribution', () => {
    const z = Float32Array.from([3, 1, 0, -2]);
    const [cold, hot] = temperatureSweep([z], [1e-3, 1e6]);
    expect(cold.entropy_bits).toBeCloseTo(0, 6);
    expect(cold.top1).toBeCloseTo(1, 6);
    expect(hot.entropy_bits).toBeCloseTo(2, 5);
    expect(hot.top1).toBeCloseTo(0.25, 5);
    const [mid] = temperatureSweep([z], [1]);
    const p = Array.from(z).map(Math.exp);
    const Z = p.reduce((a, b) => a + b, 0);
    expect(mid.entropy_bits).toBeCloseTo(-p.reduce((s, x) => s + (x / Z) * Math.log2(x / Z), 0), 6);
  });
});

void tf;
