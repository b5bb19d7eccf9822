/**
 * A worker thread of the guided sampler's row-parallel reverse SDE (sampling/reversePool.ts): it
 * holds the run's settings and, with a score, its own copy of the host score network (its own WASM
 * memory), and integrates the rows it is given (BL Eq. 14) with every random draw made beforehand on
 * the main thread: initial spins, precession planes and the Wiener increments of every step (read
 * from a SharedArrayBuffer [K, n·d], step-major, of which it takes its rows' slice each step).
 * The arithmetic is that of the in-thread path (sampling/reverse.ts, sampling/drift.ts), row by row,
 * so the final spins are the same bytes whatever the thread count.
 */
import { parentPort } from 'node:worker_threads';
import { HostScoreNet } from '../src/score/networkHost.js';
import type { ScoreModel } from '../src/score/contract.js';
import { GuidedDrift } from './drift.js';
import { INTEGRATORS } from './integrators/table.js';
import { integrateReverse } from './reverse.js';
import type { ReverseJob, ReverseReply, WorkerInit } from './reversePool.js';

let init: WorkerInit | null = null;
let score: ScoreModel | null = null;

/** Run one job: rows [r0, r1) of a chunk of n·d = `len` values. */
function run(job: ReverseJob): Extract<ReverseReply, { S: Float32Array }> {
  const setup = init!;
  const d = setup.drift.d;
  const { r0, r1, len } = job;
  const noise = new Float32Array(job.noise); // [K, len], shared
  const t0 = performance.now();
  const sde = new GuidedDrift({ ...setup.drift, score, N: job.N, planes: job.planes });
  try {
    const res = integrateReverse(job.S0, sde, {
      integrator: INTEGRATORS[setup.integrator],
      steps: setup.steps,
      T: setup.drift.schedule.T,
      tMin: setup.tMin,
      rng: null,
      noiseAt: (k, out) => out.set(noise.subarray(k * len + r0 * d, k * len + r1 * d)),
    });
    return { id: job.id, S: res.S, nonFinite: res.nonFinite, ms: performance.now() - t0 };
  } finally {
    sde.dispose();
  }
}

parentPort!.on('message', (m: { init: WorkerInit } | { job: ReverseJob }) => {
  if ('init' in m) {
    init = m.init;
    score?.dispose();
    score = null;
    const sc = m.init.score;
    if (sc) {
      const net = new HostScoreNet(sc.meta, sc.host);
      score = { meta: sc.meta, bind: (N, n) => net.bind(N, n), dispose: () => net.dispose() };
    }
    return;
  }
  let reply: Extract<ReverseReply, { S: Float32Array }>;
  try {
    reply = run(m.job);
  } catch (e) {
    parentPort!.postMessage({ id: m.job.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    return;
  }
  parentPort!.postMessage(reply, [reply.S.buffer as ArrayBuffer]);
});
