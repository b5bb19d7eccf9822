/** AdamW against a hand-computed update, the decay rule, clipping, exact state round trip; the lr schedule. */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { UserError } from '../../src/errors.js';
import { AdamW, isDecayed, lrAt } from '../../src/lm/optim.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-adamw-'));
beforeAll(async () => {
  await useBackend('wasm');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, gradClip: 0 };

function make(): { opt: AdamW; W: tf.Variable; b: tf.Variable } {
  const W = tf.variable(
    tf.tensor2d([
      [1, -2],
      [0.5, 3],
    ]),
  );
  const b = tf.variable(tf.tensor1d([0.2, -0.4]));
  return {
    opt: new AdamW(
      new Map<string, tf.Variable>([
        ['W', W],
        ['b', b],
      ]),
      opts,
    ),
    W,
    b,
  };
}

const grads = (gW: number[][], gb: number[]) =>
  new Map<string, tf.Tensor>([
    ['W', tf.tensor2d(gW)],
    ['b', tf.tensor1d(gb)],
  ]);

describe('AdamW', () => {
  it('matches a hand-computed two-step update (bias correction, decoupled decay on the matrix only)', () => {
    const { opt, W, b } = make();
    const g1 = grads(
      [
        [0.1, -0.2],
        [0.3, 0.0],
      ],
      [1, -1],
    );
    tf.dispose(Object.values(opt.update(g1, 0.01)));
    // step 1: m = 0.1 g, v = 0.01 g², m̂ = g, v̂ = g² → update = lr·g/(|g| + eps) = ±lr (0 where g = 0)
    // W also decays first: W·(1 − 0.01·0.1) = 0.999 W
    const W1 = [
      [0.999 * 1 - 0.01, 0.999 * -2 + 0.01],
      [0.999 * 0.5 - 0.01, 0.999 * 3],
    ];
    const b1 = [0.2 - 0.01, -0.4 + 0.01];
    (W.arraySync() as number[][]).flat().forEach((x, i) => expect(x).toBeCloseTo(W1.flat()[i], 6));
    (b.arraySync() as number[]).forEach((x, i) => expect(x).toBeCloseTo(b1[i], 6));
    // step 2 on b with g = 0.5 for both entries, lr 0.02
    const g2 = grads(
      [
        [0, 0],
        [0, 0],
      ],
      [0.5, 0.5],
    );
    tf.dispose(Object.values(opt.update(g2, 0.02)));
    const m = [0.9 * 0.1 * 1 + 0.1 * 0.5, 0.9 * 0.1 * -1 + 0.1 * 0.5]; // [0.14, −0.04]
    const v = [0.99 * 0.01 * 1 + 0.01 * 0.25, 0.99 * 0.01 * 1 + 0.01 * 0.25]; // [0.0124, 0.0124]
    const bc1 = 1 - 0.9 ** 2;
    const bc2 = 1 - 0.99 ** 2;
    const b2 = b1.map((x, i) => x - (0.02 / bc1) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + 1e-8)));
    (b.arraySync() as number[]).forEach((x, i) => expect(x).toBeCloseTo(b2[i], 6));
    expect(opt.step).toBe(2);
    tf.dispose([...g1.values(), ...g2.values(), W, b]);
    opt.dispose();
  });

  it('decays rank ≥ 2 parameters only', () => {
    expect(isDecayed([4, 4])).toBe(true); // weight matrices, embeddings
    expect(isDecayed([4])).toBe(false); // biases, LayerNorm gains
  });

  it('clips by the global norm: a gradient scaled by 100 moves the parameters like one of norm `clip`', () => {
    const runWith = (scale: number, clip: number) => {
      const { opt, W, b } = make();
      const o = new AdamW(opt.params, { ...opts, gradClip: clip, beta1: 0, beta2: 0, weightDecay: 0 }); // m = g, v = g²: sign-free check below
      opt.dispose();
      const g = grads(
        [
          [0.3 * scale, 0],
          [0, 0.4 * scale],
        ],
        [0, 0],
      );
      const u = o.update(g, 1);
      const info = { gradNorm: u.gradNorm.dataSync()[0], clipScale: u.clipScale.dataSync()[0] };
      const out = { info, W: (W.arraySync() as number[][]).flat() };
      tf.dispose([...g.values(), W, b, u.gradNorm, u.clipScale]);
      o.dispose();
      return out;
    };
    const r = runWith(100, 1);
    expect(r.info.gradNorm).toBeCloseTo(50, 4);
    expect(r.info.clipScale).toBeCloseTo(1 / 50, 6);
    const free = runWith(100, 0);
    expect(free.info.clipScale).toBe(1);
  });

  it('saves and restores m, v and the step exactly', async () => {
    const a = make();
    const g = grads(
      [
        [0.1, -0.2],
        [0.3, 0.05],
      ],
      [1, -1],
    );
    tf.dispose(Object.values(a.opt.update(g, 0.01)));
    tf.dispose(Object.values(a.opt.update(g, 0.01)));
    const path = join(dir, 'opt.safetensors');
    await a.opt.save(path);
    const b = make();
    b.opt.load(path);
    expect(b.opt.step).toBe(2);
    const sa = (await a.opt.state()).tensors;
    const sb = (await b.opt.state()).tensors;
    expect(sa.size).toBe(4);
    for (const [k, t] of sa) expect(Array.from(sb.get(k)!.data)).toEqual(Array.from(t.data));
    tf.dispose([...g.values(), a.W, a.b, b.W, b.b]);
    a.opt.dispose();
    b.opt.dispose();
  });

  it('rejects a corrupt state file with a UserError', () => {
    const path = join(dir, 'bad.safetensors');
    writeFileSync(path, 'not a safetensors file at all');
    const { opt, W, b } = make();
    expect(() => opt.load(path)).toThrow(UserError);
    tf.dispose([W, b]);
    opt.dispose();
  });
});

describe('lrAt', () => {
  const s = { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, steps: 110 };
  it('warms up linearly to lr', () => {
    expect(lrAt(0, s)).toBeCloseTo(1e-4, 12);
    expect(lrAt(4, s)).toBeCloseTo(5e-4, 12);
    expect(lrAt(9, s)).toBeCloseTo(1e-3, 12);
  });
  it('decays by a cosine from lr to min_lr at the last step', () => {
    expect(lrAt(10, s)).toBeCloseTo(1e-3, 12);
    expect(lrAt(59.5, s)).toBeCloseTo(5.5e-4, 12); // half way: (lr + minLr)/2
    expect(lrAt(34.75, s)).toBeCloseTo(1e-4 + 0.5 * 9e-4 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(lrAt(109, s)).toBeCloseTo(1e-4, 12);
    expect(lrAt(500, s)).toBeCloseTo(1e-4, 12);
  });
  it('without warm-up starts at lr', () => {
    expect(lrAt(0, { ...s, warmupSteps: 0 })).toBeCloseTo(1e-3, 12);
  });
});
