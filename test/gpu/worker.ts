/**
 * The child process of test/gpu/webgpu.test.ts (tfjs backends are process-global, so the wasm
 * reference and the webgpu run each get their own process):
 *
 *   tsx test/gpu/worker.ts parity BACKEND OUT     forward (logits + every hook activation) of the
 *                                                 embedded brown-small model, 30 score-training
 *                                                 steps and 10 LM-training steps; writes
 *                                                 OUT/tensors.safetensors and OUT/logs.json
 *   tsx test/gpu/worker.ts fault OUT              webgpu only: an invalid kernel, then a training
 *                                                 run, then device loss; writes OUT/fault.json
 *
 * Everything is seeded; the same inputs on both backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readData, readScalars, useBackend } from '../../src/backend.js';
import { uniformSpins } from '../../src/core/sphere.js';
import { lmTokenizer } from '../../src/lm/data.js';
import { trainLm } from '../../src/lm/train.js';
import { parseLmConfig } from '../../src/lm/config.js';
import { loadGpt2Weights } from '../../src/model/checkpoint.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { loadSafetensors, writeSafetensors } from '../../src/model/safetensors.js';
import type { HostTensor } from '../../src/model/weights.js';
import { makeRng } from '../../src/rng.js';
import { parseScoreConfig } from '../../training/config.js';
import type { PairSet } from '../../training/fieldCache.js';
import { trainScore, type TrainData } from '../../training/train.js';

/** 30 steps of a small conditioned score network on synthetic fields (d = 16). */
export const SCORE_STEPS = 30;
/** 10 steps of the tiny LM config on synthetic token ids. */
export const LM_STEPS = 10;

function scoreConfig() {
  return parseScoreConfig(
    {
      field: { source: 'final', context: 8 },
      schedule: { kind: 'linear', beta_min: 0.1, beta_max: 10, T: 1, t_min: 0.01, units: 'per_dimension' },
      forward: { levels: 24, grid: 256 },
      target: { eta: 0.3 },
      network: { width: 32, depth: 2, time_embedding: 8 },
      training: {
        batch_size: 64,
        steps: SCORE_STEPS,
        lr: 3e-3,
        warmup_steps: 2,
        eval_every: 10,
        eval_samples: 64,
        checkpoint_every: 10,
        ema_decay: 0.9,
        seed: 3,
      },
    },
    'gpu test config',
  );
}

function scoreData(): TrainData {
  const d = 16;
  const rng = makeRng('gpu-parity-score');
  const points = 20;
  const pairs = (k: number): PairSet => ({
    n: k,
    d,
    tokens: Int32Array.from({ length: k }, () => rng.int(points)),
    fields: Float32Array.from({ length: k * d }, () => rng.normal()),
  });
  return {
    train: pairs(512),
    validation: pairs(64),
    spins: uniformSpins(points, d, rng),
    identity: { modelHash: 'gpu-test', d, vocab: points, fieldSource: 'final' },
  };
}

async function parity(out: string): Promise<void> {
  const tensors = new Map<string, HostTensor>();
  const put = async (name: string, t: tf.Tensor) => tensors.set(name, { shape: [...t.shape], data: Float32Array.from(await readData(t)) });
  // 1. forward of the embedded model: logits and every hook point
  const model = Gpt2Model.fromWeights(await loadGpt2Weights('models/brown-small'));
  const rng = makeRng('gpu-parity-ids');
  const ids = Array.from({ length: 2 }, () => Array.from({ length: 24 }, () => rng.int(model.vocab)));
  const r = model.runWithCache(ids, { names: () => true });
  await put('forward.logits', r.logits);
  for (const [name, t] of r.activations) await put(`forward.${name}`, t);
  tf.dispose([r.logits, ...r.activations.values()]);
  model.dispose();
  // 2. score training
  const scoreDir = join(out, 'score');
  const data = scoreData();
  const rep = await trainScore({ config: scoreConfig(), data, outDir: scoreDir });
  data.spins.dispose();
  const ck = join(scoreDir, 'checkpoints', `step-${String(SCORE_STEPS).padStart(6, '0')}`);
  for (const f of ['params', 'ema']) for (const [k, t] of loadSafetensors(join(ck, `${f}.safetensors`))) tensors.set(`score.${f}.${k}`, t);
  // 3. LM training on synthetic ids of the tiny config's tokenizer
  const raw = JSON.parse(readFileSync('configs/lm/tiny.json', 'utf8')) as { training: object };
  const lmCfg = parseLmConfig({ ...raw, training: { ...raw.training, steps: LM_STEPS, eval_every: 5, checkpoint_every: 5 } }, 'tiny');
  const vocab = lmTokenizer(lmCfg.model.merges).vocabSize;
  const idRng = makeRng('gpu-parity-lm');
  const corpus = (n: number) => Uint16Array.from({ length: n }, () => idRng.int(vocab));
  const lmDir = join(out, 'lm');
  const lmRep = await trainLm({ config: lmCfg, outDir: lmDir, corpus: { train: corpus(4000), validation: corpus(1000) } });
  for (const [k, t] of loadSafetensors(join(lmDir, 'model.safetensors'))) tensors.set(`lm.${k}`, t);
  writeSafetensors(join(out, 'tensors.safetensors'), tensors, { dtype: 'F32' });
  const json = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as unknown;
  const logs = { backend: tf.getBackend(), score: rep, scoreLog: json(join(scoreDir, 'loss-log.json')), lm: lmRep, lmLog: json(join(lmDir, 'loss-log.json')) };
  writeFileSync(join(out, 'logs.json'), JSON.stringify(logs));
}

/** The message of what `f` throws (null when it does not throw). */
async function failure(f: () => Promise<unknown>): Promise<{ name: string; code?: string; message: string } | null> {
  try {
    await f();
    return null;
  } catch (e) {
    return { name: (e as Error).name, code: (e as { code?: string }).code, message: (e as Error).message };
  }
}

/** A kernel whose WGSL does not compile: Dawn reports a validation error, tfjs would go on. */
function invalidKernel(x: tf.Tensor): tf.Tensor {
  const program = {
    variableNames: ['A'],
    outputShape: [...x.shape],
    shaderKey: 'spinbath-invalid-kernel',
    dispatchLayout: { x: [0] },
    dispatch: [1, 1, 1] as [number, number, number],
    workgroupSize: [64, 1, 1] as [number, number, number],
    size: true,
    getUserCode: () => 'fn main(index : i32) { this is not WGSL; }',
  };
  const be = tf.backend() as unknown as { runWebGPUProgram(p: unknown, inputs: tf.TensorInfo[], dtype: string): tf.TensorInfo };
  return tf.engine().makeTensorFromTensorInfo(be.runWebGPUProgram(program, [x], 'float32'));
}

async function fault(out: string): Promise<void> {
  const result: Record<string, unknown> = {};
  const healthy = tf.scalar(2);
  result.healthyBefore = await readScalars([healthy]);
  const onGpu = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])); // runs on the GPU (tiny element-wise ops may run on the CPU)
  result.syncRead = await failure(async () => onGpu.dataSync());
  const x = tf.ones([8]);
  const y = invalidKernel(x);
  result.invalidRead = await failure(() => readData(y));
  // the fault is sticky: any later read, e.g. a training run's first, fails the run
  const dir = join(out, 'run');
  const data = scoreData();
  result.training = await failure(() => trainScore({ config: scoreConfig(), data, outDir: dir }));
  result.checkpointWritten = existsSync(join(dir, 'checkpoints', 'latest.json'));
  writeFileSync(join(out, 'fault.json'), JSON.stringify(result));
}

/** Device loss in a fresh process: destroy the device, then read. */
async function lost(out: string): Promise<void> {
  const t = tf.add(tf.ones([4]), 1);
  (tf.backend() as unknown as { device: { destroy(): void } }).device.destroy();
  const read = await failure(() => readData(t));
  writeFileSync(join(out, 'lost.json'), JSON.stringify({ read }));
}

const [mode, a, b] = process.argv.slice(2);
if (mode === 'parity') {
  await useBackend(a);
  mkdirSync(b, { recursive: true });
  await parity(b);
} else if (mode === 'fault' || mode === 'lost') {
  await useBackend('webgpu');
  mkdirSync(a, { recursive: true });
  await (mode === 'fault' ? fault(a) : lost(a));
} else {
  console.error('usage: tsx test/gpu/worker.ts parity BACKEND OUT | fault OUT | lost OUT');
  process.exit(2);
}
