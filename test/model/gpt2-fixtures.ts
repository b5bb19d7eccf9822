/**
 * Test fixtures for the GPT-2 forward pass: small seeded random GPT-2 weights, and an independent
 * naive reference forward in plain float64 loops.
 */
import { makeRng, normalArray } from '../../src/rng.js';
import { expectedShapes, type Gpt2Config, type Gpt2Weights, type HostTensor } from '../../src/model/weights.js';

export function smallConfig(over: Partial<Gpt2Config> = {}): Gpt2Config {
  return {
    model_type: 'gpt2',
    vocab_size: 97,
    n_positions: 64,
    n_embd: 32,
    n_layer: 2,
    n_head: 4,
    n_inner: null,
    layer_norm_epsilon: 1e-5,
    activation_function: 'gelu_new',
    ...over,
  };
}

/**
 * Seeded random weights: matrices N(0, 0.2²) (embeddings N(0, 0.5²)), biases N(0, 0.1²) (nonzero),
 * LN gains 1 + N(0, 0.1²). `zeroAttnBias` zeroes every c_proj bias of attention.
 */
export function randomWeights(config: Gpt2Config, seed = 1, opts: { zeroAttnBias?: boolean; untiedHead?: boolean } = {}): Gpt2Weights {
  const rng = makeRng(seed);
  const tensors = new Map<string, HostTensor>();
  for (const [name, shape] of expectedShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name.endsWith('ln_1.weight') || name.endsWith('ln_2.weight') || name === 'ln_f.weight') {
      data = normalArray(rng, n, 0.1).map((x) => 1 + x);
    } else if (name.endsWith('.bias')) {
      data = opts.zeroAttnBias && name.endsWith('attn.c_proj.bias') ? new Float32Array(n) : normalArray(rng, n, 0.1);
    } else if (name === 'wte.weight' || name === 'wpe.weight') {
      data = normalArray(rng, n, 0.5);
    } else {
      data = normalArray(rng, n, 0.2);
    }
    tensors.set(name, { shape, data });
  }
  if (opts.untiedHead)
    tensors.set('lm_head.weight', { shape: [config.vocab_size, config.n_embd], data: normalArray(rng, config.vocab_size * config.n_embd, 0.5) });
  return { config, tensors };
}

export function randomIds(seed: number, batch: number, pos: number, vocab: number): number[][] {
  const rng = makeRng(`ids-${seed}`);
  return Array.from({ length: batch }, () => Array.from({ length: pos }, () => rng.int(vocab)));
}

/** Naive GPT-2 forward of one row in float64 loops: logits [pos][vocab]. */
export function naiveForward(w: Gpt2Weights, ids: number[]): number[][] {
  const c = w.config;
  const d = c.n_embd;
  const H = c.n_head;
  const dh = d / H;
  const dm = c.n_inner ?? 4 * d;
  const W = (n: string) => w.tensors.get(n)!.data;
  const P = ids.length;
  const layerNorm = (x: number[], g: Float32Array, b: Float32Array) => {
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const vr = x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length;
    const sd = Math.sqrt(vr + c.layer_norm_epsilon);
    return x.map((v, i) => ((v - mean) / sd) * g[i] + b[i]);
  };
  const lin = (x: number[], Wm: Float32Array, b: Float32Array, nOut: number) => {
    const y = Array.from(b.subarray(0, nOut), Number);
    for (let i = 0; i < x.length; i++) for (let j = 0; j < nOut; j++) y[j] += x[i] * Wm[i * nOut + j];
    return y;
  };
  const act = (x: number): number => {
    if (c.activation_function === 'relu') return Math.max(0, x);
    if (c.activation_function === 'gelu') return 0.5 * x * (1 + erf(x / Math.SQRT2));
    return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  };
  const wte = W('wte.weight');
  const wpe = W('wpe.weight');
  let xs = ids.map((t, p) => Array.from({ length: d }, (_, i) => wte[t * d + i] + wpe[p * d + i]));
  for (let l = 0; l < c.n_layer; l++) {
    const h = `h.${l}.`;
    const qkv = xs.map((x) => lin(layerNorm(x, W(h + 'ln_1.weight'), W(h + 'ln_1.bias')), W(h + 'attn.c_attn.weight'), W(h + 'attn.c_attn.bias'), 3 * d));
    const z = xs.map(() => new Array<number>(d).fill(0));
    for (let hd = 0; hd < H; hd++) {
      for (let qp = 0; qp < P; qp++) {
        const s: number[] = [];
        for (let kp = 0; kp <= qp; kp++) {
          let dot = 0;
          for (let i = 0; i < dh; i++) dot += qkv[qp][hd * dh + i] * qkv[kp][d + hd * dh + i];
          s.push(dot / Math.sqrt(dh));
        }
        const mx = Math.max(...s);
        const e = s.map((v) => Math.exp(v - mx));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let kp = 0; kp <= qp; kp++) for (let i = 0; i < dh; i++) z[qp][hd * dh + i] += (e[kp] / sum) * qkv[kp][2 * d + hd * dh + i];
      }
    }
    xs = xs.map((x, p) => {
      const a = lin(z[p], W(h + 'attn.c_proj.weight'), W(h + 'attn.c_proj.bias'), d);
      const mid = x.map((v, i) => v + a[i]);
      const hidden = lin(layerNorm(mid, W(h + 'ln_2.weight'), W(h + 'ln_2.bias')), W(h + 'mlp.c_fc.weight'), W(h + 'mlp.c_fc.bias'), dm).map(act);
      const m = lin(hidden, W(h + 'mlp.c_proj.weight'), W(h + 'mlp.c_proj.bias'), d);
      return mid.map((v, i) => v + m[i]);
    });
  }
  const U = w.tensors.get('lm_head.weight')?.data ?? wte;
  return xs.map((x) => {
    const y = layerNorm(x, W('ln_f.weight'), W('ln_f.bias'));
    return Array.from({ length: c.vocab_size }, (_, t) => y.reduce((s, v, i) => s + v * U[t * d + i], 0));
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** erf by its Maclaurin series (|x| < 3) or the continued-fraction tail; |error| < 1e-12 on the range used. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 100; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f));
}
