/**
 * The row arena (src/core/kernels/rows.ts) and the dual dispatch of the host row functions
 * (src/core/sphere.ts): every WASM kernel path against the plain-loop reference on copies that are
 * not arena views (d = 3 takes the plain path on the arena too; 16, 128, 768 the SIMD kernels),
 * in place and aliased; scopes (zeroed rows, nesting, overflow to plain arrays, release); 1,000
 * reverse runs leave the arena's memory as it was; a view detached by a grow throws; and a whole
 * reverse run in the arena equals the same run on plain arrays to float32 rounding.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { axpy, closeRowScope, onArena, openRowScope, rowArenaStats, rowBuffer, rowScopeId, sumFloats, withRowScope } from '../../src/core/kernels/rows.js';
import { WasmKernels } from '../../src/core/kernels/wasm.js';
import { expMapRows, normalizeRows, projectCombineRows, retractRows, tangentProjectRows, uniformSpinRows } from '../../src/core/sphere.js';
import { makeRng, normalArray } from '../../src/rng.js';
import { GuidedDrift } from '../../sampling/drift.js';
import { FastNormal } from '../../sampling/gaussian.js';
import { INTEGRATORS, INTEGRATOR_NAMES } from '../../sampling/integrators/index.js';
import { integrateReverse } from '../../sampling/reverse.js';

afterEach(() => {
  vi.restoreAllMocks();
  expect(rowArenaStats().openScopes, 'a test left a row scope open').toBe(0);
});

/** max |got − ref| / max |ref|. */
function relErr(got: Float32Array, ref: Float32Array): number {
  let e = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    e = Math.max(e, Math.abs(got[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return e / Math.max(scale, 1e-30);
}

/** A copy of `x` as arena rows of the open scope. */
function onRows(x: Float32Array): Float32Array {
  const r = rowBuffer(x.length);
  expect(onArena(r)).toBe(true);
  r.set(x);
  return r;
}

const DIMS = [3, 16, 128, 768];
const N = 7;

describe('host row functions: arena (WASM SIMD for d % 4 = 0) = plain loops', () => {
  for (const d of DIMS) {
    it(`d = ${d}: projectCombineRows, tangentProjectRows, retractRows, normalizeRows, axpy, sumFloats`, () => {
      const rng = makeRng(`rows/${d}`);
      const len = N * d;
      const S = uniformSpinRows(N, d, rng);
      const G = normalArray(rng, len);
      const s = normalArray(rng, len);
      const xi = normalArray(rng, len);
      const v = normalArray(rng, len, 0.3);
      const [a, b, g] = [0.7, -0.35, 0.12];
      const simd = d % 4 === 0;
      const spies = {
        projectCombine: vi.spyOn(WasmKernels.prototype, 'projectCombine'),
        retract: vi.spyOn(WasmKernels.prototype, 'retract'),
        axpy: vi.spyOn(WasmKernels.prototype, 'axpy'),
        sum: vi.spyOn(WasmKernels.prototype, 'sum'),
      };
      // references: plain arrays (never arena views)
      const ref = {
        pc: projectCombineRows(S, { G, s, xi, a, b, g }, new Float32Array(len), d),
        tp: tangentProjectRows(S, v, new Float32Array(len), d),
        rt: retractRows(S, v, 0.5, new Float32Array(len), d),
        nr: normalizeRows(G, new Float32Array(len), d),
        ax: axpy(v, Float32Array.from(G), -1.5),
        sum: sumFloats(G),
      };
      expect(spies.projectCombine).not.toHaveBeenCalled();
      expect(spies.retract).not.toHaveBeenCalled();
      expect(spies.sum).not.toHaveBeenCalled();
      withRowScope(20 * len, () => {
        const [rS, rG, rs, rxi, rv] = [S, G, s, xi, v].map(onRows);
        const check = (name: string, got: Float32Array, want: Float32Array) => {
          expect(got.length).toBe(want.length);
          expect(relErr(got, want), `${name}, d = ${d}`).toBeLessThanOrEqual(1e-6);
        };
        check('projectCombineRows', projectCombineRows(rS, { G: rG, s: rs, xi: rxi, a, b, g }, rowBuffer(len), d), ref.pc);
        check('tangentProjectRows', tangentProjectRows(rS, rv, rowBuffer(len), d), ref.tp);
        check('retractRows', retractRows(rS, rv, 0.5, rowBuffer(len), d), ref.rt);
        check('normalizeRows', normalizeRows(rG, rowBuffer(len), d), ref.nr);
        check('axpy', axpy(rv, onRows(G), -1.5), ref.ax);
        expect(Math.abs(sumFloats(rG) - ref.sum), `sumFloats, d = ${d}`).toBeLessThanOrEqual(1e-6 * len);
        // aliasing: out = s, out = ξ, out = G (projectCombine); out = v (tangent projection);
        // out = S and out = v (retraction); in place (normalize); y = x (axpy)
        check('projectCombineRows out = s', projectCombineRows(rS, { G: rG, s: onRows(s), xi: rxi, a, b, g }, rs, d), ref.pc);
        rs.set(s);
        check('projectCombineRows out = ξ', projectCombineRows(rS, { G: rG, s: rs, xi: rxi, a, b, g }, rxi, d), ref.pc);
        rxi.set(xi);
        const G2 = onRows(G);
        check('projectCombineRows out = G', projectCombineRows(rS, { G: G2, s: rs, xi: rxi, a, b, g }, G2, d), ref.pc);
        const v2 = onRows(v);
        check('tangentProjectRows out = v', tangentProjectRows(rS, v2, v2, d), ref.tp);
        const S2 = onRows(S);
        check('retractRows out = S', retractRows(S2, rv, 0.5, S2, d), ref.rt);
        const v3 = onRows(v);
        check('retractRows out = v', retractRows(rS, v3, 0.5, v3, d), ref.rt);
        const G3 = onRows(G);
        check('normalizeRows in place', normalizeRows(G3, G3, d), ref.nr);
        const v4 = onRows(v);
        check(
          'axpy y = x',
          axpy(v4, v4, 2),
          v.map((x) => 3 * x),
        );
        // a mix of arena and plain arrays takes the plain loop (and gives the reference bits)
        expect(Array.from(retractRows(rS, v, 0.5, rowBuffer(len), d))).toEqual(Array.from(ref.rt));
      });
      // the kernels ran exactly when d allows them (axpy and sum take any length)
      expect(spies.projectCombine.mock.calls.length).toBe(simd ? 6 : 0);
      expect(spies.retract.mock.calls.length).toBe(simd ? 5 : 0);
      expect(spies.axpy).toHaveBeenCalledTimes(2);
      expect(spies.sum).toHaveBeenCalledTimes(1);
    });
  }

  it('axpy and sumFloats handle lengths that are not a multiple of 4, and sums see NaN and ±∞', () => {
    withRowScope(4096, () => {
      for (const len of [0, 1, 3, 5, 13]) {
        const x = normalArray(makeRng(`tail/${len}`), len);
        const y = normalArray(makeRng(`tail/y/${len}`), len);
        const want = axpy(x, Float32Array.from(y), 0.25);
        expect(relErr(axpy(onRows(x), onRows(y), 0.25), want)).toBeLessThanOrEqual(1e-7);
        expect(Math.abs(sumFloats(onRows(x)) - sumFloats(x))).toBeLessThanOrEqual(1e-6 * (len + 1));
      }
      const z = rowBuffer(13);
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const at of [0, 7, 12]) {
          z.fill(0.5);
          z[at] = bad;
          expect(Number.isFinite(sumFloats(z)), `${bad} at ${at}`).toBe(false);
        }
      }
    });
  });
});

describe('row scopes', () => {
  it('hand out zeroed arena rows inside a scope, plain arrays outside, and free them on close', () => {
    expect(rowScopeId()).toBe(0);
    expect(onArena(rowBuffer(8))).toBe(false);
    const before = rowArenaStats().inUseBytes;
    const outer = openRowScope(1024);
    const a = rowBuffer(5);
    expect(onArena(a)).toBe(true);
    expect(a.byteOffset % 16).toBe(0);
    a.fill(3);
    const inner = openRowScope(1024);
    expect(rowScopeId()).toBe(inner);
    expect(inner).not.toBe(outer);
    const b = rowBuffer(7);
    b.fill(4);
    closeRowScope(inner);
    expect(rowScopeId()).toBe(outer);
    // the inner scope's memory is handed out again, zeroed
    const c = rowBuffer(7);
    expect(c.byteOffset).toBe(b.byteOffset);
    expect(Array.from(c)).toEqual(new Array(7).fill(0));
    expect(Array.from(a)).toEqual(new Array(5).fill(3));
    // closing the outer scope also closes an inner one left open
    openRowScope(16);
    closeRowScope(outer);
    expect(rowScopeId()).toBe(0);
    expect(rowArenaStats().inUseBytes).toBe(before);
    expect(() => closeRowScope(outer)).toThrow(/not open/);
  });

  it('never grows inside a scope: what does not fit is a plain array', () => {
    withRowScope(1024, () => {
      const cap = rowArenaStats().capacityBytes;
      const big = rowBuffer(cap); // 4·cap bytes
      expect(onArena(big)).toBe(false);
      expect(big.length).toBe(cap);
      expect(rowArenaStats().capacityBytes).toBe(cap);
      // nested scopes do not grow either
      withRowScope(cap, () => expect(rowArenaStats().capacityBytes).toBe(cap));
    });
  });

  it('a view used after the arena grew (detached) throws instead of computing on nothing', () => {
    const id = openRowScope(1024);
    const v = rowBuffer(64);
    const w = rowBuffer(64);
    closeRowScope(id);
    const cap = rowArenaStats().capacityBytes;
    withRowScope(cap / 4 + 65536, () => {}); // nothing open: the arena grows, old views detach
    expect(rowArenaStats().capacityBytes).toBeGreaterThan(cap);
    expect(v.length).toBe(0);
    const plain = new Float32Array(64);
    expect(() => retractRows(v, plain, 1, plain, 4)).toThrow(/detached/);
    expect(() => retractRows(plain, plain, 1, w, 4)).toThrow(/detached/);
    expect(() => normalizeRows(v, v, 4)).toThrow(/detached/);
    expect(() => tangentProjectRows(plain, v, plain, 4)).toThrow(/detached/);
    expect(() => projectCombineRows(plain, { G: plain, s: plain, xi: v, a: 1, b: 1, g: 1 }, plain, 4)).toThrow(/detached/);
    expect(() => expMapRows(plain, v, plain, 4)).toThrow(/detached/);
    expect(() => axpy(v, plain, 1)).toThrow(/detached/);
    expect(() => sumFloats(v)).toThrow(/detached/);
    // a plain empty array is not mistaken for one
    expect(sumFloats(new Float32Array(0))).toBe(0);
  });
});

describe('reverse runs in the arena', () => {
  const schedule = { kind: 'linear' as const, betaMin: 0.1, betaMax: 20, T: 1 };

  it('1,000 consecutive runs do not grow the arena and release all their rows', () => {
    const n = 3;
    const d = 8;
    const N = uniformSpinRows(n, d, makeRng('N'));
    const rng = makeRng('runs');
    integrateReverse(uniformSpinRows(n, d, rng), new GuidedDrift({ N, d, schedule }), { integrator: INTEGRATORS.heun, steps: 4, T: 1, rng });
    const after1 = rowArenaStats();
    expect(after1.inUseBytes).toBe(0);
    for (let r = 0; r < 1000; r++) {
      const sde = new GuidedDrift({ N, d, schedule, llg: r % 2 ? { lambda: 0.5 } : null, rng });
      const run = integrateReverse(uniformSpinRows(n, d, rng), sde, { integrator: INTEGRATORS[INTEGRATOR_NAMES[r % 2]], steps: 5, T: 1, rng });
      expect(run.nonFinite).toBeNull();
      expect(onArena(run.S)).toBe(false); // the caller's copy
      sde.dispose();
    }
    expect(rowArenaStats()).toEqual(after1);
  });

  it('an onStep callback sees arena rows (the kernels are used) and a throwing callback releases the scope', () => {
    const n = 4;
    const d = 16;
    const N = uniformSpinRows(n, d, makeRng('N2'));
    const sde = new GuidedDrift({ N, d, schedule });
    const spy = vi.spyOn(WasmKernels.prototype, 'projectCombine');
    let seen = 0;
    integrateReverse(uniformSpinRows(n, d, makeRng('s')), sde, {
      integrator: INTEGRATORS.heun,
      steps: 3,
      T: 1,
      rng: makeRng('w'),
      onStep: (_k, _t, S) => {
        expect(onArena(S)).toBe(true);
        seen++;
      },
    });
    expect(seen).toBe(3);
    expect(spy).toHaveBeenCalledTimes(6); // two increments per Heun step
    expect(() =>
      integrateReverse(uniformSpinRows(n, d, makeRng('s')), sde, {
        integrator: INTEGRATORS.heun,
        steps: 3,
        T: 1,
        rng: null,
        onStep: () => {
          throw new Error('stop');
        },
      }),
    ).toThrow('stop');
    expect(rowArenaStats().inUseBytes).toBe(0);
    sde.dispose();
  });

  for (const name of INTEGRATOR_NAMES) {
    it(`${name}: a run in the arena equals the same run on plain arrays to float32 rounding (d = 128, noise, LLG)`, () => {
      const n = 6;
      const d = 128;
      const K = 50;
      const N = uniformSpinRows(n, d, makeRng('N3'));
      const S0 = uniformSpinRows(n, d, makeRng('S3'));
      const opts = { N, d, eta: 2, schedule, llg: { lambda: 0.7 } };
      const arenaSde = new GuidedDrift({ ...opts, rng: makeRng('p') });
      const run = integrateReverse(S0, arenaSde, { integrator: INTEGRATORS[name], steps: K, T: 1, tMin: 0, rng: makeRng('noise') });
      // the same loop outside any row scope: plain arrays, plain loops
      const plainSde = new GuidedDrift({ ...opts, rng: makeRng('p') });
      const gauss = new FastNormal(makeRng('noise'));
      const dtau = 1 / K;
      const noise = new Float32Array(n * d);
      let S = Float32Array.from(S0);
      let next = new Float32Array(n * d);
      for (let k = 0; k < K; k++) {
        gauss.fill(noise.length, Math.sqrt(dtau), noise);
        INTEGRATORS[name].step(S, k * dtau, dtau, plainSde, noise, next);
        expect(onArena(next)).toBe(false);
        [S, next] = [next, S];
      }
      let worst = 0;
      for (let i = 0; i < S.length; i++) worst = Math.max(worst, Math.abs(run.S[i] - S[i]));
      expect(worst, `${name}: max |ΔS| after ${K} steps`).toBeLessThanOrEqual(2e-5);
      arenaSde.dispose();
      plainSde.dispose();
    });
  }
});
