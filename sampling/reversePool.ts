/**
 * The guided reverse SDE of one token (BL Eq. 14) with its rows split across threads: the rows of
 * a chunk are independent during the reverse run (each spin sees only its own field, score and
 * noise), so the main thread and `threads − 1` worker threads (sampling/reverseWorker.ts) each
 * integrate a contiguous block of rows, with one exchange per token (not per step).
 *
 * Same bytes for every thread count: every random draw is made here, on the main thread, in the
 * order of the in-thread path (sampling/generate.ts reverseSpins → sampling/reverse.ts): the initial
 * spins from `rngs.init`, the precession planes of the LLG modes from `rngs.precession` (all rows,
 * as GuidedDrift draws them), and the Wiener increments of all K steps from one FastNormal seeded
 * from `rngs.noise` — one fill of K·n·d values equals K successive fills of n·d (the generator
 * keeps no buffer between fills), step-major [K, n·d] in a SharedArrayBuffer that the workers read
 * their slices from. The per-row arithmetic (drift, score network, integrator) is the same code in
 * every thread.
 *
 * Workers start lazily on the first token, are reused across the tokens and chunks of one
 * generation, and are terminated by `close()` (generateGuided's `finally`); they are unref'd while
 * idle, so a pool that is never closed cannot keep the process alive. A worker that fails or exits
 * rejects the token with an error naming it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { uniformSpinRows } from '../src/core/sphereRows.js';
import type { Rng } from '../src/rng.js';
import type { HostScoreSpec } from '../src/score/networkHost.js';
import type { ScoreModel, ScoreModelMeta } from '../src/score/contract.js';
import type { HostTensor } from '../src/model/weights.js';
import { NetScoreModel } from '../src/score/scoreNet.js';
import { drawPlanes, GuidedDrift, guidanceField, precessionKind, type DriftOptions } from './drift.js';
import { FastNormal } from './gaussian.js';
import { INTEGRATORS, type IntegratorName } from './integrators/index.js';
import { integrateReverse, reverseStep, type ReverseResult } from './reverse.js';

/**
 * Fewest rows a worker is given: below 2 × this, a token runs in one thread. Measured on 2 shared
 * cores (brown-small's score, K = 50): splitting 4 or 8 rows cost more in messages and waits than
 * it saved; from 16 rows on it pays.
 */
export const MIN_ROWS_PER_THREAD = 8;

/** The run-wide settings a worker gets once: the drift without its per-token parts, the score's weights, the integrator. */
export interface WorkerInit {
  drift: Omit<DriftOptions, 'N' | 'rng' | 'score' | 'planes'>;
  score: { meta: ScoreModelMeta & HostScoreSpec; host: Map<string, HostTensor> } | null;
  integrator: IntegratorName;
  steps: number;
  tMin: number | undefined;
}

/** One token's rows [r0, r1) of a chunk of `len` = n·d values, with their draws. */
export interface ReverseJob {
  id: number;
  r0: number;
  r1: number;
  len: number;
  /** Fields [(r1 − r0)·d]. */
  N: Float32Array;
  /** Initial spins [(r1 − r0)·d]. */
  S0: Float32Array;
  /** Precession planes [(r1 − r0)·d] each, or null. */
  planes: Float32Array[] | null;
  /** The whole chunk's Wiener increments [K, len] (shared). */
  noise: SharedArrayBuffer;
}

/** A worker's answer: its rows' final spins and first non-finite step/row (rows counted from r0), or an error. */
export type ReverseReply = { id: number; S: Float32Array; nonFinite: ReverseResult['nonFinite']; ms: number } | { id: number; error: string };

/** The score's parts a worker can rebuild it from, or undefined when it cannot be sent (then the run stays in one thread). */
function sendableScore(score: ScoreModel | null | undefined): WorkerInit['score'] | undefined {
  if (!score) return null;
  return score instanceof NetScoreModel ? score.hostParts() : undefined;
}

/**
 * A worker running the module next to this one: the compiled reverseWorker.js, or, when this module
 * runs from its .ts source (tsx, vitest), reverseWorker.ts behind tsx's ESM loader registered in the
 * worker (a worker does not inherit the parent's loader).
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./reverseWorker.js', import.meta.url));
  const require = createRequire(import.meta.url);
  const tsxDir = dirname(require.resolve('tsx/package.json'));
  const pkg = JSON.parse(readFileSync(join(tsxDir, 'package.json'), 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const api = pathToFileURL(join(tsxDir, pkg.exports['./esm/api'].import.default)).href;
  const entry = new URL('./reverseWorker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
}

/**
 * Contiguous blocks of n rows: `mainRows` for the main thread (block 0, possibly empty), the rest
 * split as evenly as possible over `workers` workers (the first ones one larger).
 */
export function blocks(n: number, mainRows: number, workers: number): [number, number][] {
  const out: [number, number][] = [[0, mainRows]];
  const rest = n - mainRows;
  let r = mainRows;
  for (let p = 0; p < workers; p++) {
    const m = Math.floor(rest / workers) + (p < rest % workers ? 1 : 0);
    out.push([r, r + m]);
    r += m;
  }
  return out;
}

/**
 * The main thread's share of n rows that balances its work (drawing every row's noise, then its
 * own rows) against each worker's: noise + m·cMain = (n − m)/W · cWorker, with per-row costs and
 * the noise time measured on earlier tokens; m in [0, n − W·MIN_ROWS_PER_THREAD].
 */
export function balancedMainRows(n: number, workers: number, cost: { noiseMs: number; mainRowMs: number; workerRowMs: number }): number {
  const w = cost.workerRowMs / workers;
  const m = Math.round((n * w - cost.noiseMs) / (cost.mainRowMs + w));
  return Math.max(0, Math.min(n - workers * MIN_ROWS_PER_THREAD, Number.isFinite(m) ? m : Math.floor(n / (workers + 1))));
}

/** Worker threads for the reverse runs of one guided generation (see the file comment). */
export class ReversePool {
  private workers: Worker[] = [];
  private pending = new Map<number, { resolve: (r: ReverseReply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failure: Error | null = null;
  private noiseSab: SharedArrayBuffer | null = null;
  /** Running averages (ms) of the noise draw and of a row's reverse run on the main thread and on a worker, for the split. */
  private cost: { noiseMs: number; mainRowMs: number; workerRowMs: number } | null = null;

  private constructor(
    /** Threads in all, the main thread included (≥ 2). */
    readonly threads: number,
    private readonly init: WorkerInit,
    /** The main thread's score (its own block). */
    private readonly score: ScoreModel | null,
  ) {}

  /** A pool for `threads` threads in all, or null when one thread is asked for or the score cannot be sent to a worker. */
  static create(threads: number, init: Omit<WorkerInit, 'score'>, score: ScoreModel | null): ReversePool | null {
    const sent = sendableScore(score);
    if (threads < 2 || sent === undefined) return null;
    return new ReversePool(threads, { ...init, score: sent }, score);
  }

  /** Start the workers (first use). */
  private start(): void {
    if (this.workers.length > 0) return;
    for (let i = 0; i < this.threads - 1; i++) {
      const w = startWorker();
      w.on('message', (r: ReverseReply) => {
        const p = this.pending.get(r.id);
        this.pending.delete(r.id);
        p?.resolve(r);
      });
      const fail = (e: Error) => {
        this.failure ??= e;
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      };
      w.on('error', (e) => fail(new Error(`reverse SDE worker ${i + 1} failed: ${e.message}`)));
      w.on('exit', (code) => fail(new Error(`reverse SDE worker ${i + 1} exited (code ${code})`)));
      w.postMessage({ init: this.init });
      w.unref();
      this.workers.push(w);
    }
  }

  /** Send a job to worker i; resolves with its reply. */
  private post(i: number, job: ReverseJob): Promise<ReverseReply> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.pending.set(job.id, { resolve, reject });
      this.workers[i].postMessage({ job });
    });
  }

  /**
   * The final spins [n·d] of one token for fields N [n·d], drawing from `rngs` exactly as the
   * in-thread path does; `nonFinite` is the first non-finite step and its lowest row, as one thread
   * would report it.
   */
  async reverse(N: Float32Array, rngs: { init: Rng; noise: Rng; precession: Rng }): Promise<Omit<ReverseResult, 'dtau'>> {
    const { drift, steps: K } = this.init;
    const d = drift.d;
    const len = N.length;
    const n = len / d;
    // every draw here, in the in-thread order of each stream
    const prec = precessionKind(drift);
    const planes = prec === 'orthogonal' || prec === 'field' ? drawPlanes(guidanceField({ ...drift, N }), d, prec, rngs.precession) : null;
    const S0 = uniformSpinRows(n, d, rngs.init);
    const clock = performance.now();
    const dtau = reverseStep({ steps: K, T: drift.schedule.T, tMin: this.init.tMin });
    if (!this.noiseSab || this.noiseSab.byteLength !== 4 * K * len) this.noiseSab = new SharedArrayBuffer(4 * K * len);
    const sab = this.noiseSab;
    const noise = new Float32Array(sab);
    new FastNormal(rngs.noise).fill(K * len, Math.sqrt(dtau), noise); // [K, n·d], step-major
    const noiseMs = performance.now() - clock;

    // which rows where does not change a byte of the result (rows are independent): balance the threads
    const workers = Math.min(this.threads, Math.floor(n / MIN_ROWS_PER_THREAD)) - 1;
    const parts = blocks(n, this.cost ? balancedMainRows(n, workers, this.cost) : Math.ceil(n / (workers + 1)), workers);
    const rows = (a: Float32Array, r0: number, r1: number) => a.slice(r0 * d, r1 * d);
    this.start();
    const replies = parts.slice(1).map(([r0, r1], i) =>
      this.post(i, {
        id: this.nextId++,
        r0,
        r1,
        len,
        N: rows(N, r0, r1),
        S0: rows(S0, r0, r1),
        planes: planes && planes.map((p) => rows(p, r0, r1)),
        noise: sab,
      }),
    );
    for (const p of replies) p.catch(() => {}); // awaited below; never an unhandled rejection if the main block throws first
    for (const w of this.workers) w.ref();
    try {
      // the main thread's block, meanwhile
      const [r0, r1] = parts[0];
      const t0 = performance.now();
      const sde = new GuidedDrift({ ...drift, score: this.score, N: rows(N, r0, r1), planes: planes && planes.map((p) => rows(p, r0, r1)) });
      let mine: Pick<ReverseResult, 'S' | 'nonFinite'> = { S: new Float32Array(0), nonFinite: null };
      if (r1 > r0)
        try {
          mine = integrateReverse(rows(S0, r0, r1), sde, {
            integrator: INTEGRATORS[this.init.integrator],
            steps: K,
            T: drift.schedule.T,
            tMin: this.init.tMin,
            rng: null,
            noiseAt: (k, out) => out.set(noise.subarray(k * len + r0 * d, k * len + r1 * d)),
          });
        } finally {
          sde.dispose();
        }
      const mainMs = performance.now() - t0;
      const S = new Float32Array(len);
      S.set(mine.S, 0);
      let bad = mine.nonFinite;
      let workerMs = 0;
      for (const [p, r] of (await Promise.all(replies)).entries()) {
        if ('error' in r) throw new Error(`reverse SDE worker ${p + 1}: ${r.error}`);
        const off = parts[p + 1][0];
        S.set(r.S, off * d);
        workerMs = Math.max(workerMs, r.ms / (parts[p + 1][1] - off));
        if (r.nonFinite && (!bad || r.nonFinite.step < bad.step)) bad = { step: r.nonFinite.step, row: r.nonFinite.row + off };
      }
      this.learn(noiseMs, r1 > r0 ? mainMs / (r1 - r0) : null, workerMs);
      return { S, nonFinite: bad };
    } finally {
      for (const w of this.workers) w.unref();
    }
  }

  /** Fold one token's timings into the running averages (per-row costs; the main thread's is unknown when it had no rows). */
  private learn(noiseMs: number, mainRowMs: number | null, workerRowMs: number): void {
    const c = this.cost;
    const avg = (old: number, x: number) => 0.7 * old + 0.3 * x;
    if (!c) this.cost = { noiseMs, mainRowMs: mainRowMs ?? workerRowMs, workerRowMs };
    else {
      c.noiseMs = avg(c.noiseMs, noiseMs);
      if (mainRowMs !== null) c.mainRowMs = avg(c.mainRowMs, mainRowMs);
      c.workerRowMs = avg(c.workerRowMs, workerRowMs);
    }
  }

  /** Terminate the workers. */
  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    this.failure ??= new Error('reverse SDE pool closed');
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
