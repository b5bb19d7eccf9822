/**
 * The ONNX Runtime engine (src/model/ort) against the tfjs engine (the reference, src/model/gpt2.ts)
 * and the independent float64 forward of gpt2-fixtures.ts: logits, every hook output, last-position
 * and residual outputs, KV-cached decoding, greedy decoding, checkpoints as loaded (fp16,
 * `transformer.`-prefixed, untied head), and the engine's error paths. Tolerances: ort-helpers.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { isUserError } from '../../src/errors.js';
import { tokenNll } from '../../src/lm/loss.js';
import { loadGpt2Weights } from '../../src/model/checkpoint.js';
import { EngineHookError } from '../../src/model/engine.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { disposeActivations, hookNames } from '../../src/model/hooks.js';
import * as ortNode from 'onnxruntime-node';
import onnxPkg from 'onnx-proto';
import { buildGpt2Graph, createOrtGpt2, ortAvailable, type OrtGpt2 } from '../../src/model/ort/index.js';
import { writeTinyGpt2 } from '../helpers/tinyGpt2.js';
import { maxAbsDiff, naiveForward, randomIds, randomWeights } from './gpt2-fixtures.js';
import { expectClose, SHAPES } from './ort-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'spinbath-ort-'));
const engines: { ort: OrtGpt2; tfjs: Gpt2Model }[] = [];

beforeAll(async () => {
  await useBackend('wasm');
  // Both ways of handing over the weights: fed as inputs (shapes 0, 2) and copied as initializers (shape 1).
  for (const [i, s] of SHAPES.entries()) {
    const w = randomWeights(s.cfg, 21, { untiedHead: s.untied });
    engines.push({ ort: await createOrtGpt2(w, { threads: 1, weights: i === 1 ? 'initializers' : 'inputs' }), tfjs: Gpt2Model.fromWeights(w) });
  }
});
afterAll(() => {
  for (const e of engines) [e.ort, e.tfjs].forEach((m) => m.dispose());
  rmSync(tmp, { recursive: true, force: true });
});

/** Rows of a [b, p, V] tensor's last position as number[][] (greedy decoding helper). */
const argmaxRows = (t: tf.Tensor): number[] => Array.from(tf.tidy(() => tf.argMax(t, -1)).dataSync());

describe('ortAvailable', () => {
  it('loads the bundled native binary and names its version and CPU provider', async () => {
    const a = await ortAvailable();
    expect(a.ok).toBe(true);
    if (a.ok) {
      expect(a.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(a.providers).toContain('cpu');
    }
  });
});

describe.each(SHAPES.map((s, i) => [s.name, i] as const))('OrtGpt2 vs tfjs: %s', (_name, i) => {
  const e = () => engines[i];

  it('logits equal the tfjs engine (1e-4 relative) and the float64 forward', async () => {
    const { ort, tfjs } = e();
    const ids = randomIds(3 + i, 2, 11, ort.vocab);
    const [got, ref] = [await ort.forwardAsync(ids), tfjs.forward(ids)];
    expectClose(got, ref, 'logits');
    const w = (ort as unknown as { weights: Parameters<typeof naiveForward>[0] }).weights;
    const rows = got.arraySync() as number[][][];
    for (let b = 0; b < 2; b++) expect(maxAbsDiff(rows[b].flat(), naiveForward(w, ids[b]).flat())).toBeLessThanOrEqual(1e-4);
    tf.dispose([got, ref]);
  });

  it('every hook output equals the tfjs activation, in the same layout', async () => {
    const { ort, tfjs } = e();
    const ids = randomIds(5 + i, 2, 9, ort.vocab);
    const names = hookNames(ort.nLayer);
    const got = await ort.runWithCacheAsync(ids, { names });
    const ref = tfjs.runWithCache(ids, { names });
    expect([...got.activations.keys()].sort()).toEqual([...ref.activations.keys()].sort());
    expect(got.activations.size).toBe(names.length);
    for (const n of names) expectClose(got.activations.get(n)!, ref.activations.get(n)!, n);
    expectClose(got.logits, ref.logits, 'logits');
    for (const r of [got, ref]) {
      r.logits.dispose();
      disposeActivations(r.activations);
    }
  });

  it('last-position logits, lastLogits and the residual output equal the tfjs forward', async () => {
    const { ort, tfjs } = e();
    const ids = randomIds(7 + i, 3, 6, ort.vocab);
    for (const opts of [{ lastOnly: true }, { output: 'residual' as const }, { lastOnly: true, output: 'residual' as const }]) {
      const [got, ref] = [await ort.forwardAsync(ids, opts), tfjs.forward(ids, opts)];
      expectClose(got, ref, JSON.stringify(opts));
      tf.dispose([got, ref]);
    }
    const [got, ref] = [await ort.lastLogitsAsync(ids), tfjs.lastLogits(ids)];
    expect(got.shape).toEqual([3, ort.vocab]);
    expectClose(got, ref, 'lastLogits');
    tf.dispose([got, ref]);
  });

  it('KV-cached decoding (batch 2) equals the full forward at every step, hooks included', async () => {
    const { ort, tfjs } = e();
    const ids = randomIds(9 + i, 2, 12, ort.vocab);
    const full = tfjs.forward(ids); // [2, 12, V]
    const cache = ort.newCache();
    const prefill = await ort.forwardAsync(
      ids.map((r) => r.slice(0, 5)),
      { cache },
    );
    expect(cache.length).toBe(5);
    expect(cache.batch).toBe(2);
    expectClose(prefill, tf.slice(full, [0, 0, 0], [2, 5, -1]), 'prefill');
    for (let p = 5; p < 12; p++) {
      // the cache's buffers grow (8 → 16 slots) at p = 8
      const step = await ort.lastLogitsAsync(
        ids.map((r) => [r[p]]),
        { cache },
      ); // [2, V]
      expectClose(step, tf.reshape(tf.slice(full, [0, p, 0], [2, 1, -1]), [2, ort.vocab]), `step ${p}`);
      step.dispose();
    }
    expect(cache.length).toBe(12);
    expect(cache.capacity).toBe(16);
    // hook_k / hook_v / patterns include the cached positions, as in the tfjs engine with its own cache.
    const names = ['blocks.0.attn.hook_k', 'blocks.0.attn.hook_v', 'blocks.0.attn.hook_pattern', 'blocks.0.attn.hook_attn_scores'];
    const [oc, tc] = [ort.newCache(), tfjs.newCache()];
    await ort.forwardAsync(
      ids.map((r) => r.slice(0, 6)),
      { cache: oc },
    );
    tfjs
      .forward(
        ids.map((r) => r.slice(0, 6)),
        { cache: tc },
      )
      .dispose();
    const got = await ort.runWithCacheAsync(
      ids.map((r) => r.slice(6)),
      { names, cache: oc },
    );
    const ref = tfjs.runWithCache(
      ids.map((r) => r.slice(6)),
      { names, cache: tc },
    );
    for (const n of names) expectClose(got.activations.get(n)!, ref.activations.get(n)!, `cached ${n}`);
    expect(got.activations.get(names[0])!.shape).toEqual([2, 12, ort.nHead, ort.dHead]);
    for (const r of [got, ref]) {
      r.logits.dispose();
      disposeActivations(r.activations);
    }
    tf.dispose([full, prefill]);
    [cache, oc, tc].forEach((c) => c.dispose());
  });

  it('greedy decoding with the KV cache gives the same tokens as the tfjs engine', async () => {
    const { ort, tfjs } = e();
    const prompt = randomIds(11 + i, 1, 4, ort.vocab)[0];
    const decode = async (m: OrtGpt2 | Gpt2Model) => {
      const cache = m.newCache();
      let next = [prompt];
      const out: number[] = [];
      for (let s = 0; s < 8; s++) {
        const logits = await m.lastLogitsAsync(next, { cache }); // [1, V]
        const tok = argmaxRows(logits)[0];
        logits.dispose();
        out.push(tok);
        next = [[tok]];
      }
      cache.dispose();
      return out;
    };
    expect(await decode(ort)).toEqual(await decode(tfjs));
  });
});

describe('the ONNX graph', () => {
  it('is standard-op ONNX that ORT fuses: tanh-GELU → FastGelu, LayerNormalization kept, no Tanh left', async () => {
    const cfg = SHAPES[0].cfg;
    const { model, nodes } = buildGpt2Graph(
      cfg,
      { cache: false, past: false, lastOnly: false, output: 'logits', hooks: [], interventions: [] },
      { untiedHead: false },
    );
    const built = onnxPkg.onnx.ModelProto.decode(model);
    expect(built.graph!.node!.length).toBe(nodes);
    expect(built.graph!.node!.every((n) => !n.domain)).toBe(true); // only the default ONNX domain
    expect(Number(built.opsetImport![0].version)).toBe(17);
    const path = join(tmp, 'optimized.onnx');
    const session = await ortNode.InferenceSession.create(model, { graphOptimizationLevel: 'all', optimizedModelFilePath: path, logSeverityLevel: 3 });
    await session.release();
    const ops = onnxPkg.onnx.ModelProto.decode(readFileSync(path)).graph!.node!.map((n) => n.opType);
    const count = (op: string) => ops.filter((o) => o === op).length;
    expect(count('FastGelu')).toBe(cfg.n_layer);
    expect(count('Tanh')).toBe(0);
    expect(count('LayerNormalization') + count('SkipLayerNormalization')).toBe(2 * cfg.n_layer + 1);
    expect(ops.length).toBeLessThan(nodes);
  });
});

describe('OrtGpt2 on loaded checkpoints', () => {
  for (const [name, opts] of [
    ['fp16, transformer.-prefixed', { dtype: 'F16' as const, prefix: true }],
    ['bf16, untied head', { dtype: 'BF16' as const, tiedHead: false }],
    ['fp32, tied head stored explicitly', { dtype: 'F32' as const, explicitTiedHead: true }],
  ] as const) {
    it(`${name}: equals tfjs on the same loaded weights and the float64 forward`, async () => {
      const dir = join(tmp, name.replace(/[^a-z0-9]+/gi, '_'));
      writeTinyGpt2(dir, { seed: 3, ...opts });
      const w = await loadGpt2Weights(dir);
      const [ort, tfjs] = [await createOrtGpt2(w, { threads: 1 }), Gpt2Model.fromWeights(w)];
      const ids = randomIds(13, 2, 10, ort.vocab);
      const [got, ref] = [await ort.forwardAsync(ids), tfjs.forward(ids)];
      expectClose(got, ref, 'logits');
      const rows = got.arraySync() as number[][][];
      for (let b = 0; b < 2; b++) expect(maxAbsDiff(rows[b].flat(), naiveForward(w, ids[b]).flat())).toBeLessThanOrEqual(1e-4);
      // params(): the same TransformerLens-named tensors as the tfjs engine's.
      const [po, pt] = [ort.params(), tfjs.params()];
      expect([...po.keys()].sort()).toEqual([...pt.keys()].sort());
      for (const [k, t] of pt) expectClose(po.get(k)!, t, `params ${k}`, 0);
      tf.dispose([got, ref]);
      ort.dispose();
      tfjs.dispose();
    });
  }
});

describe('OrtGpt2 contract and errors', () => {
  const e = () => engines[0];

  it('reads the host weights in place: a weight changed after creation changes the output (no copy)', async () => {
    const w = randomWeights(SHAPES[0].cfg, 4);
    expect((await createOrtGpt2(w)).weightsAs).toBe('initializers'); // 'auto' on a tiny model
    const ort = await createOrtGpt2(w, { threads: 1, weights: 'inputs' });
    const ids = [[1, 2, 3]];
    const before = await ort.forwardAsync(ids, { output: 'residual' });
    const lnfBias = w.tensors.get('ln_f.bias')!.data;
    lnfBias[0] += 1; // residual = γ ⊙ x̂ + β: component 0 moves by exactly 1
    const after = await ort.forwardAsync(ids, { output: 'residual' });
    const delta = tf.tidy(() => tf.sub(after, before).arraySync() as number[][][]);
    for (const row of delta[0]) {
      expect(row[0]).toBeCloseTo(1, 5);
      expect(Math.max(...row.slice(1).map(Math.abs))).toBeLessThan(1e-6);
    }
    tf.dispose([before, after]);
    ort.dispose();
  });

  it("weights: 'inputs' (fed every run) on the untied shape computes the same forward and decoding", async () => {
    const w = randomWeights(SHAPES[1].cfg, 21, { untiedHead: true });
    const [init, ref] = [await createOrtGpt2(w, { threads: 1, weights: 'inputs', memArena: false }), engines[1].tfjs];
    const ids = randomIds(17, 2, 6, init.vocab);
    const [got, want] = [await init.forwardAsync(ids), ref.forward(ids)];
    expectClose(got, want, 'logits');
    const cache = init.newCache();
    (
      await init.forwardAsync(
        ids.map((r) => r.slice(0, 5)),
        { cache },
      )
    ).dispose();
    const step = await init.lastLogitsAsync(
      ids.map((r) => [r[5]]),
      { cache },
    );
    expectClose(step, tf.reshape(tf.slice(want, [0, 5, 0], [2, 1, -1]), [2, init.vocab]), 'cached step');
    tf.dispose([got, want, step]);
    init.dispose();
  });

  it('tokenNllAsync equals tokenNll of the tfjs logits (the loss lm eval computes), without returning logits', async () => {
    for (const { ort, tfjs } of engines) {
      const ids = randomIds(19, 3, 9, ort.vocab);
      const targets = randomIds(20, 1, 27, ort.vocab)[0];
      const got = await ort.tokenNllAsync(ids, targets);
      const ref = tf.tidy(() => tokenNll(tf.reshape(tfjs.forward(ids), [-1, ort.vocab]), tf.tensor1d(targets, 'int32')).dataSync());
      expect(got.length).toBe(27);
      expect(maxAbsDiff(got, ref)).toBeLessThanOrEqual(1e-4 * Math.max(...Array.from(ref, Math.abs)));
    }
    const { ort } = e();
    await expect(ort.tokenNllAsync([[1, 2]], [3])).rejects.toThrow(/targets has 1 entries, expected batch × pos = 2/);
    await expect(ort.tokenNllAsync([[1, 2]], [3, ort.vocab])).rejects.toThrow(/target id \d+ at 1 is outside the vocabulary/);
  });

  it('with maxSessions 1, concurrent runs of different variants evict each other safely and stay correct', async () => {
    const w = randomWeights(SHAPES[0].cfg, 21);
    const ort = await createOrtGpt2(w, { threads: 1, maxSessions: 1, weights: 'inputs' });
    const ids = randomIds(23, 2, 5, ort.vocab);
    const ref = engines[0].tfjs;
    const runs = await Promise.all([
      ort.forwardAsync(ids),
      ort.forwardAsync(ids, { lastOnly: true }),
      ort.forwardAsync(ids, { output: 'residual' }),
      ort.forwardAsync(ids),
    ]);
    const want = [ref.forward(ids), ref.forward(ids, { lastOnly: true }), ref.forward(ids, { output: 'residual' })];
    runs.forEach((r, i) => expectClose(r, want[i === 3 ? 0 : i], `concurrent run ${i}`));
    tf.dispose([...runs, ...want]);
    ort.dispose();
  });

  it('prefilling an empty cache runs the graph without past inputs and equals the uncached forward to the bit', async () => {
    const { ort } = e();
    const ids = randomIds(16, 2, 5, ort.vocab);
    const names = ['blocks.0.attn.hook_pattern', 'blocks.1.attn.hook_k'];
    const [plain, cached] = [await ort.runWithCacheAsync(ids, { names }), await ort.runWithCacheAsync(ids, { names, cache: ort.newCache() })];
    expect(maxAbsDiff(cached.logits.dataSync(), plain.logits.dataSync())).toBe(0);
    for (const n of names) expect(maxAbsDiff(cached.activations.get(n)!.dataSync(), plain.activations.get(n)!.dataSync())).toBe(0);
    const [last, lastCached] = [await ort.lastLogitsAsync(ids), await ort.lastLogitsAsync(ids, { cache: ort.newCache() })];
    expect(maxAbsDiff(lastCached.dataSync(), last.dataSync())).toBe(0);
    // The first call's session has no past_* inputs (a zero-length past crashes ORT's WebGPU EP); the next call's has.
    const inputs = async (past: boolean) =>
      (await ort.session({ cache: true, past, lastOnly: true, output: 'logits', hooks: [], interventions: [] })).inputNames.filter((n) => n.startsWith('past'));
    expect(await inputs(false)).toEqual([]);
    expect((await inputs(true)).length).toBe(2 * ort.nLayer + 1);
    tf.dispose([plain.logits, cached.logits, ...plain.activations.values(), ...cached.activations.values(), last, lastCached]);
  });

  it('tile(n) repeats a prefilled batch-1 cache: decoding from it equals prefilling n copies', async () => {
    const { ort } = e();
    const prompt = randomIds(15, 1, 5, ort.vocab)[0];
    const one = ort.newCache();
    (await ort.forwardAsync([prompt], { cache: one })).dispose();
    const tiled = one.tile(3);
    expect([tiled.length, tiled.batch, one.batch]).toEqual([5, 3, 1]);
    const ref = ort.newCache();
    (await ort.forwardAsync([prompt, prompt, prompt], { cache: ref })).dispose();
    const next = [[4], [5], [6]];
    const [a, b] = [await ort.lastLogitsAsync(next, { cache: tiled }), await ort.lastLogitsAsync(next, { cache: ref })];
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    tf.dispose([a, b]);
  });

  it('arbitrary JS hooks: canRun is false and the run throws EngineHookError', async () => {
    const { ort, tfjs } = e();
    const hooks = [{ name: 'blocks.0.hook_resid_pre', fn: (x: tf.Tensor) => tf.mul(x, 2) }];
    expect(ort.canRun(hooks)).toBe(false);
    expect(tfjs.canRun(hooks)).toBe(true);
    await expect(ort.runWithHooksAsync([[1, 2]], { hooks })).rejects.toBeInstanceOf(EngineHookError);
    await expect(ort.runWithCacheAsync([[1, 2]], { names: [], hooks })).rejects.toThrow(/E_ENGINE_HOOK|arbitrary JS/);
  });

  it('rejects bad input with the tfjs engine’s one-line UserErrors', async () => {
    const { ort, tfjs } = e();
    const cases: number[][][] = [[[1, ort.vocab]], [[1, 2], [3]], [[]], [Array.from({ length: ort.nPositions + 1 }, () => 1)]];
    for (const ids of cases) {
      const err = await ort.forwardAsync(ids).then(
        () => null,
        (x: unknown) => x,
      );
      expect(isUserError(err), JSON.stringify(ids).slice(0, 40)).toBe(true);
      expect((err as Error).message).toBe(
        ((): string => {
          try {
            tfjs.forward(ids);
          } catch (x) {
            return (x as Error).message;
          }
          return 'no error';
        })(),
      );
    }
    const foreign = await ort.forwardAsync([[1]], { cache: tfjs.newCache() }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(isUserError(foreign) && foreign.code).toBe('E_INPUT');
    expect(() => ort.forward()).toThrow(/asynchronous: call forwardAsync/);
  });

  it('rejects an execution provider this build lacks, naming the available ones', async () => {
    const err = await createOrtGpt2(randomWeights(SHAPES[2].cfg, 1), { executionProviders: ['nosuchep'] }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(isUserError(err) && err.code).toBe('E_BACKEND');
    expect((err as Error).message).toMatch(/'nosuchep' is not available .*\(available: .*cpu/);
  });

  it('rejects weights that do not match the config before loading anything', async () => {
    const w = randomWeights(SHAPES[0].cfg, 4);
    w.tensors.set('h.1.mlp.c_fc.bias', { shape: [3], data: new Float32Array(3) });
    const err = await createOrtGpt2(w).then(
      () => null,
      (x: unknown) => x,
    );
    expect(isUserError(err) && err.code).toBe('E_CHECKPOINT');
    expect((err as Error).message).toMatch(/h\.1\.mlp\.c_fc\.bias has shape \[3\], expected \[128\]/);
  });
});
