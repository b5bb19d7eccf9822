/**
 * Token readout (sampling/readout.ts): nearest token spin by cosine (one matmul + top-2, batched,
 * special tokens excluded) and the seeded softmax-over-cosine readout.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { normalizeSpins } from '../../src/core/sphere.js';
import { makeRng, normalArray } from '../../src/rng.js';
import { TokenReadout } from '../../sampling/readout.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const V = 200;
const d = 12;

function setup(seed = 1) {
  const rng = makeRng(`readout/${seed}`);
  const E = tf.tensor2d(normalArray(rng, V * d), [V, d]); // raw embeddings, varied norms
  const S = normalizeSpins(tf.tensor2d(normalArray(rng, 7 * d), [7, d]));
  return { E, S, e: E.arraySync() as number[][], s: S.arraySync() as number[][] };
}

/** Host cosines of row s against every token. */
function cosines(s: number[], e: number[][]): number[] {
  return e.map((row) => {
    let dot = 0;
    let nn = 0;
    for (let i = 0; i < d; i++) {
      dot += row[i] * s[i];
      nn += row[i] * row[i];
    }
    return dot / Math.sqrt(nn);
  });
}

describe('nearest readout', () => {
  it('is the argmax of the cosine over non-excluded tokens, with the runner-up, batched', () => {
    const { E, S, e, s } = setup();
    const exclude = [0, 5];
    const ro = new TokenReadout(E, exclude);
    const r = ro.nearest(S);
    for (let i = 0; i < s.length; i++) {
      const c = cosines(s[i], e);
      const order = c
        .map((v, t) => [v, t])
        .filter(([, t]) => !exclude.includes(t))
        .sort((a, b) => b[0] - a[0]);
      expect(r.ids[i]).toBe(order[0][1]);
      expect(r.runnerUp[i]).toBe(order[1][1]);
      expect(r.cosChosen[i]).toBeCloseTo(order[0][0], 5);
      expect(r.cosRunnerUp[i]).toBeCloseTo(order[1][0], 5);
    }
    ro.dispose();
    tf.dispose([E, S]);
  });

  it('never picks an excluded token, even at its own spin', () => {
    const { E } = setup(2);
    const ro = new TokenReadout(E, [7]);
    const S = tf.tidy(() => normalizeSpins(tf.slice(E, [7, 0], [1, d])));
    const r = ro.nearest(S);
    expect(r.ids[0]).not.toBe(7);
    const ro2 = new TokenReadout(E, []);
    expect(ro2.nearest(S).ids[0]).toBe(7);
    expect(ro2.nearest(S).cosChosen[0]).toBeCloseTo(1, 5);
    tf.dispose([E, S]);
    ro.dispose();
    ro2.dispose();
  });

  it('releases every intermediate', () => {
    const { E, S } = setup(3);
    const ro = new TokenReadout(E, [1]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      ro.nearest(S);
      ro.sample(S, 0.2, makeRng(i));
    }
    expect(tf.memory().numTensors).toBe(before);
    ro.dispose();
    tf.dispose([E, S]);
  });
});

describe('softmax readout', () => {
  it('is reproducible from the seed and equals nearest at a tiny temperature', () => {
    const { E, S } = setup(4);
    const ro = new TokenReadout(E, [3]);
    const a = ro.sample(S, 0.3, makeRng('x'));
    const b = ro.sample(S, 0.3, makeRng('x'));
    expect(a.ids).toEqual(b.ids);
    expect(ro.sample(S, 1e-4, makeRng('y')).ids).toEqual(ro.nearest(S).ids);
    ro.dispose();
    tf.dispose([E, S]);
  });

  it('draws tokens with frequencies softmax(cos/T) and never an excluded token', () => {
    const { E, e } = setup(5);
    const exclude = [0, 1, 2];
    const ro = new TokenReadout(E, exclude);
    const n = 4000;
    const rng = makeRng('s');
    const s0 = normalizeSpins(tf.tensor2d(normalArray(rng, d), [1, d]));
    const S = tf.tile(s0, [n, 1]);
    const T = 0.15;
    const r = ro.sample(S, T, rng);
    const c = cosines((s0.arraySync() as number[][])[0], e);
    const w = c.map((v, t) => (exclude.includes(t) ? 0 : Math.exp(v / T)));
    const z = w.reduce((a, b) => a + b, 0);
    const counts = new Array<number>(V).fill(0);
    for (const t of r.ids) counts[t]++;
    for (const t of exclude) expect(counts[t]).toBe(0);
    // the five most probable tokens: observed frequency within 4 binomial standard errors
    const top = w
      .map((x, t) => [x / z, t])
      .sort((a, b) => b[0] - a[0])
      .slice(0, 5);
    for (const [p, t] of top) expect(Math.abs(counts[t] / n - p), `token ${t}: p = ${p}`).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
    ro.dispose();
    tf.dispose([E, S, s0]);
  });

  it('refuses a non-positive temperature', () => {
    const { E, S } = setup(6);
    const ro = new TokenReadout(E);
    expect(() => ro.sample(S, 0, makeRng(1))).toThrow(/temperature/);
    ro.dispose();
    tf.dispose([E, S]);
  });
});

describe('host cosines (WASM gemm)', () => {
  it("equal tfjs-wasm's matMul + bias bit for bit, and nearest equals tf.topk (ties to the lower id)", () => {
    for (const [V2, d2, n] of [
      [203, 12, 5],
      [1001, 768, 16],
      [50, 128, 1],
    ] as const) {
      const rng = makeRng(`readout-bits/${d2}`);
      const raw = normalArray(rng, V2 * d2);
      raw.copyWithin(9 * d2, 3 * d2, 4 * d2); // token 9 = token 3: exact ties
      const E = tf.tensor2d(raw, [V2, d2]);
      const s0 = normalArray(rng, n * d2);
      s0.set(raw.subarray(3 * d2, 4 * d2)); // row 0 points at token 3 (and 9)
      const S = normalizeSpins(tf.tensor2d(s0, [n, d2]));
      const exclude = [1, V2 - 1];
      const ro = new TokenReadout(E, exclude);
      const { ref, top } = tf.tidy(() => {
        const ET = tf.transpose(tf.div(E, tf.maximum(tf.norm(E, 'euclidean', -1, true), 1e-12))); // [d, V]
        const bias = tf.tensor1d(Float32Array.from({ length: V2 }, (_, t) => (exclude.includes(t) ? -4 : 0)));
        const sc = tf.add(tf.matMul(S, ET), bias); // [n, V]
        const k = tf.topk(sc, 2);
        return { ref: sc.dataSync() as Float32Array, top: { v: k.values.dataSync(), i: k.indices.dataSync() } };
      });
      const host = ro.scores(S);
      const bits = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
      expect(bits(host.dataSync() as Float32Array).equals(bits(ref)), `V ${V2}, d ${d2}`).toBe(true);
      host.dispose();
      const r = ro.nearest(S);
      expect(r.ids[0]).toBe(3); // tied with 9: the lower id wins, the other is the runner-up
      expect(r.runnerUp[0]).toBe(9);
      for (let i = 0; i < n; i++) {
        expect([r.ids[i], r.runnerUp[i]]).toEqual([top.i[2 * i], top.i[2 * i + 1]]);
        expect([r.cosChosen[i], r.cosRunnerUp[i]]).toEqual([top.v[2 * i], top.v[2 * i + 1]]);
      }
      ro.dispose();
      tf.dispose([E, S]);
    }
  });
});
