/**
 * Logits-level checkpoint parity: one random tiny GPT-2 written as unprefixed, `transformer.`-
 * prefixed, sharded, fp16 and bf16 copies, each loaded with loadGpt2Weights + Gpt2Model.fromWeights,
 * must give the same logits on a few prompts as the model built from the fp32 weights in memory.
 *
 * Tolerances:
 * - fp32 copies (prefix, shards): the tensors are bit-identical and the forward pass deterministic,
 *   so the logits agree to ≤ 1e-6 (in practice exactly).
 * - fp16/bf16: rounding each weight to nearest changes it by a relative |δ| ≤ u, the unit roundoff
 *   (fp16: 11 significant bits, u = 2⁻¹¹ ≈ 4.9e-4; bf16: 8 bits, u = 2⁻⁸ ≈ 3.9e-3). Two checks:
 *   (1) the loader converts exactly: the logits equal (≤ 1e-6) those of the fp32 model whose
 *       weights were rounded in memory (f32 → f16/bf16 → f32, src/model/halfFloat.ts);
 *   (2) the precision loss is what the format implies: to first order a logit moves by
 *       Σ_w (∂z/∂w)·w·δ_w; each logit is a dot product of the final residual (unit scale after the
 *       final LayerNorm) with an embedding row, and the rounding errors of the embedding row, the
 *       LayerNorm gains and the 2 blocks' matrices add with random signs, so the error stays within
 *       a small multiple of u times the logit scale. We allow max|Δz| ≤ 8·u·(1 + max|z|), with
 *       max|z| ≈ 1.3 here: 9.0e-3 (fp16) and 7.2e-2 (bf16), against observed errors of 2.8e-3 and
 *       1.4e-2 (≈ 2.5 and 1.6 u·(1 + max|z|): a 3-5x margin, and deterministic: seeds are fixed).
 *       The error must also be nonzero (the weights really were stored at 16 bits) and larger for bf16.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { loadGpt2Weights } from '../../src/model/checkpoint.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from '../../src/model/halfFloat.js';
import type { Gpt2Weights, HostTensor } from '../../src/model/weights.js';
import { makeRng } from '../../src/rng.js';
import { writeTinyGpt2, type TinyGpt2Options } from '../helpers/tinyGpt2.js';

const SEED = 5;
const tmp = mkdtempSync(join(tmpdir(), 'spinbath-ckpt-logits-'));
let n = 0;

/** The copies written to disk, all from the same random weights (seed SEED). */
const VARIANTS: Record<string, TinyGpt2Options> = {
  unprefixed: {},
  prefixed: { prefix: true },
  sharded: { shards: 3 },
  'sharded+prefixed': { shards: 4, prefix: true },
  fp16: { dtype: 'F16' },
  bf16: { dtype: 'BF16' },
};
const UNIT_ROUNDOFF = { fp16: 2 ** -11, bf16: 2 ** -8 };

let reference: Gpt2Weights;
let vocab: number;
let nPositions: number;
const logitsOf = new Map<string, Float32Array[]>();
let prompts: number[][];

/** Logits [pos·vocab] of each prompt (batch 1) and of all prompts cut to one length as a batch. */
function runPrompts(model: Gpt2Model): Float32Array[] {
  const out = prompts.map((ids) => {
    const z = model.logits([ids]);
    const v = z.dataSync() as Float32Array;
    z.dispose();
    return v;
  });
  const len = Math.min(...prompts.map((p) => p.length));
  const z = model.logits(prompts.map((p) => p.slice(0, len)));
  out.push(z.dataSync() as Float32Array);
  z.dispose();
  return out;
}

async function load(dir: string): Promise<Float32Array[]> {
  const model = Gpt2Model.fromWeights(await loadGpt2Weights(dir));
  try {
    return runPrompts(model);
  } finally {
    model.dispose();
  }
}

function fromMemory(w: Gpt2Weights): Float32Array[] {
  const model = Gpt2Model.fromWeights(w);
  try {
    return runPrompts(model);
  } finally {
    model.dispose();
  }
}

/** The weights rounded to a 16-bit format and back, in memory. */
function rounded(w: Gpt2Weights, fmt: 'fp16' | 'bf16'): Gpt2Weights {
  const tensors = new Map<string, HostTensor>();
  for (const [name, t] of w.tensors) {
    const data = fmt === 'fp16' ? f16ArrayToF32(f32ArrayToF16(t.data)) : bf16ArrayToF32(f32ArrayToBf16(t.data));
    tensors.set(name, { shape: [...t.shape], data });
  }
  return { config: { ...w.config }, tensors };
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  a.forEach((x, i) => {
    expect(x.length).toBe(b[i].length);
    for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs(x[j] - b[i][j]));
  });
  return worst;
}

const maxAbs = (a: Float32Array[]) => a.reduce((m, x) => x.reduce((mm, v) => Math.max(mm, Math.abs(v)), m), 0);

beforeAll(async () => {
  await useBackend('wasm');
  for (const [name, opts] of Object.entries(VARIANTS)) {
    const dir = join(tmp, `m${n++}`);
    const w = writeTinyGpt2(dir, { seed: SEED, ...opts });
    reference ??= w;
    vocab = w.config.vocab_size;
    nPositions = w.config.n_positions;
    if (!prompts) {
      const rng = makeRng('checkpoint-logits');
      prompts = [
        [0, 1, 2, 3, 4, 5, 6, 7],
        Array.from({ length: 12 }, () => rng.int(vocab)),
        Array.from({ length: nPositions }, () => rng.int(vocab)), // the full context
      ];
    }
    logitsOf.set(name, await load(dir));
  }
  logitsOf.set('memory', fromMemory(reference));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('checkpoint copies give the same logits', () => {
  it('the in-memory fp32 model gives finite, non-trivial logits', () => {
    const z = logitsOf.get('memory')!;
    expect(z.every((x) => x.every(Number.isFinite))).toBe(true);
    expect(maxAbs(z)).toBeGreaterThan(0.05);
    expect(z[0].length).toBe(prompts[0].length * vocab);
  });

  for (const name of ['unprefixed', 'prefixed', 'sharded', 'sharded+prefixed']) {
    it(`${name} fp32 copy: identical to the in-memory model (≤ 1e-6)`, () => {
      expect(maxAbsDiff(logitsOf.get(name)!, logitsOf.get('memory')!)).toBeLessThanOrEqual(1e-6);
    });
  }

  for (const fmt of ['fp16', 'bf16'] as const) {
    it(`${fmt} copy: equals the model with weights rounded to ${fmt} in memory (≤ 1e-6)`, () => {
      expect(maxAbsDiff(logitsOf.get(fmt)!, fromMemory(rounded(reference, fmt)))).toBeLessThanOrEqual(1e-6);
    });

    it(`${fmt} copy: within ${fmt} precision of the fp32 logits (≤ 8·u·(1 + max|z|), u = ${UNIT_ROUNDOFF[fmt]})`, () => {
      const ref = logitsOf.get('memory')!;
      const err = maxAbsDiff(logitsOf.get(fmt)!, ref);
      const tol = 8 * UNIT_ROUNDOFF[fmt] * (1 + maxAbs(ref));
      expect(err).toBeLessThanOrEqual(tol);
      expect(err).toBeGreaterThan(0); // the copy really was stored at 16 bits
    });
  }

  it('bf16 (8 significant bits) loses more than fp16 (11 bits)', () => {
    const ref = logitsOf.get('memory')!;
    expect(maxAbsDiff(logitsOf.get('bf16')!, ref)).toBeGreaterThan(maxAbsDiff(logitsOf.get('fp16')!, ref));
  });

  it('leaves no tensors behind', () => {
    const before = tf.memory().numTensors;
    fromMemory(reference);
    expect(tf.memory().numTensors).toBe(before);
  });
});
