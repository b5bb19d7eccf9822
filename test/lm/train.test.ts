/**
 * Training on the tiny config (Brown, 256 merges): the loss goes down without leaking tensors,
 * the export loads and reproduces the in-memory logits, resume reproduces an uninterrupted run
 * exactly (also after a checkpoint write was killed half-way), and bad input fails in one line.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { UserError } from '../../src/errors.js';
import { lmTokenizer } from '../../src/lm/data.js';
import { trainLm, type TrainOptions } from '../../src/lm/train.js';
import { loadGpt2Weights } from '../../src/model/checkpoint.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { loadSafetensors, readSafetensors } from '../../src/model/safetensors.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { TEST_CACHE, tinyConfig } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'sb-lmtrain-'));
beforeAll(async () => {
  await useBackend('wasm');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const run = (name: string, o: Partial<TrainOptions> & Pick<TrainOptions, 'config'>) => trainLm({ outDir: join(root, name), cacheDir: TEST_CACHE, ...o });

async function userError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a UserError');
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('lm train (tiny config)', () => {
  it('lowers the loss, keeps the tensor count flat, and exports a loadable model with the same logits', async () => {
    const ids = [[5, 100, 7, 256, 3, 99, 12, 40]];
    let inMemory: number[] = [];
    const rep = await run('basic', {
      config: tinyConfig(),
      onTrained: (m) => {
        const l = m.forward(ids);
        inMemory = Array.from(l.dataSync());
        l.dispose();
      },
    });
    expect(rep.stopped).toBe(false);
    expect(rep.steps).toBe(20);
    expect(rep.tokens_seen).toBe(20 * 4 * 32);
    const log = JSON.parse(readFileSync(join(root, 'basic', 'loss-log.json'), 'utf8'));
    expect(log.val[0].step).toBe(0);
    expect(log.val.at(-1).step).toBe(20);
    expect(log.val.at(-1).loss).toBeLessThan(log.val[0].loss - 0.3);
    expect(log.train).toHaveLength(20);
    expect(rep.tensors_at_end).toBe(rep.tensors_after_first_step);

    const dir = join(root, 'basic');
    const w = await loadGpt2Weights(dir);
    expect(w.config.vocab_size).toBe(513);
    const m = Gpt2Model.fromWeights(w);
    const l = m.forward(ids);
    expect(maxDiff(l.dataSync(), inMemory)).toBeLessThanOrEqual(1e-6);
    l.dispose();
    m.dispose();
    const tok = await loadTokenizer(dir);
    expect(tok.vocabSize).toBe(513);
    expect(tok.decode(tok.encode('The jury said it did find that.'))).toBe('The jury said it did find that.');
    expect(tok.eosId).toBe(512);
    expect(readFileSync(join(dir, 'loss-curve.svg'), 'utf8')).toMatch(/^<svg/);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report.tokens_per_s).toBeGreaterThan(0);
    expect(report.final_val_loss).toBeCloseTo(log.val.at(-1).loss, 10);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt'])
      expect(existsSync(join(dir, f))).toBe(true);
  });

  it('resumes to exactly the parameters and loss curve of an uninterrupted run, even after a killed checkpoint write', async () => {
    const config = tinyConfig({ steps: 6, checkpoint_every: 3, eval_every: 2, warmup_steps: 1 });
    await run('straight', { config });
    const stopped = await run('resumed', { config, stopAfter: 3 });
    expect(stopped.stopped).toBe(true);
    const ck = join(root, 'resumed', 'checkpoints');
    expect(existsSync(join(root, 'resumed', 'model.safetensors'))).toBe(false);
    // debris of a process killed while writing step 6: a half-written temp dir and an unpublished one
    mkdirSync(join(ck, '.step-000006.4242.tmp'));
    writeFileSync(join(ck, '.step-000006.4242.tmp', 'model.safetensors'), 'half');
    mkdirSync(join(ck, 'step-000006'));
    writeFileSync(join(ck, 'step-000006', 'state.json'), '{"trunc');
    await run('resumed', { config, resume: true });
    const a = loadSafetensors(join(root, 'straight', 'model.safetensors'));
    const b = loadSafetensors(join(root, 'resumed', 'model.safetensors'));
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) expect(maxDiff(t.data, b.get(k)!.data)).toBeLessThanOrEqual(1e-6);
    const la = JSON.parse(readFileSync(join(root, 'straight', 'loss-log.json'), 'utf8'));
    const lb = JSON.parse(readFileSync(join(root, 'resumed', 'loss-log.json'), 'utf8'));
    expect(lb).toEqual(la);
    expect(existsSync(join(ck, '.step-000006.4242.tmp'))).toBe(false);
  });

  it('refuses a corrupt checkpoint, a changed config, a missing checkpoint and an occupied --out, losing nothing', async () => {
    const config = tinyConfig({ steps: 6, checkpoint_every: 3 });
    await run('victim', { config, stopAfter: 3 });
    const dir = join(root, 'victim');
    const step = join(dir, 'checkpoints', 'step-000003');
    expect(await userError(run('victim', { config }))).toMatch(/already holds a training run .*--resume/);
    expect(await userError(run('victim', { config: tinyConfig({ steps: 6, checkpoint_every: 3, lr: 0.001 }), resume: true }))).toMatch(
      /config differs .* in training\.lr \(checkpoint 0\.003, given 0\.001\)/,
    );
    expect(await userError(run('nothing-here', { config, resume: true }))).toMatch(/has no checkpoint/);

    const backup = join(root, 'victim-backup');
    cpSync(dir, backup, { recursive: true });
    const weights = join(step, 'model.safetensors');
    writeFileSync(weights, readFileSync(weights).subarray(0, 1000)); // truncated
    expect(await userError(run('victim', { config, resume: true }))).toMatch(/checkpoint .*step-000003 is corrupt/);
    expect(readFileSync(weights).length).toBe(1000); // untouched
    cpSync(join(backup, 'checkpoints'), join(dir, 'checkpoints'), { recursive: true });
    writeFileSync(join(step, 'optimizer.safetensors'), 'garbage');
    expect(await userError(run('victim', { config, resume: true }))).toMatch(/is corrupt/);
    cpSync(join(backup, 'checkpoints'), join(dir, 'checkpoints'), { recursive: true });
    writeFileSync(join(step, 'state.json'), '{');
    expect(await userError(run('victim', { config, resume: true }))).toMatch(/is corrupt \(state\.json/);
    cpSync(join(backup, 'checkpoints'), join(dir, 'checkpoints'), { recursive: true });
    expect((await run('victim', { config, resume: true })).steps).toBe(6); // the restored checkpoint still resumes
  });

  it('rejects a split with fewer than seq_len + 1 tokens before writing anything', async () => {
    const tok = lmTokenizer(256);
    const train = new Uint16Array(tok.encode('A short corpus.'));
    const validation = new Uint16Array(tok.encode('x'.repeat(200)));
    const msg = await userError(run('small', { config: tinyConfig(), corpus: { train, validation } }));
    expect(msg).toMatch(/the train split has \d+ tokens, fewer than training\.seq_len \+ 1 = 33/);
    expect(existsSync(join(root, 'small'))).toBe(false);
    const empty = await userError(run('small', { config: tinyConfig(), corpus: { train: validation, validation: new Uint16Array(0) } }));
    expect(empty).toMatch(/the validation split has 0 tokens/);
  });

  it('refuses logits too large for the wasm heap (full GPT-2 vocabulary, big batch) with a one-line config error', async () => {
    const raw = tinyConfig();
    const msg = await userError(run('huge', { config: tinyConfig({ batch_size: 64 }, { model: { ...raw.model, merges: null } }) }));
    expect(msg).toMatch(/training\.batch_size × seq_len × vocabulary \(64 × 32 × 50257\) makes 412 MB logits/);
  });

  it('exports fp16 weights when export.dtype is float16', async () => {
    let inMemory: Float32Array = new Float32Array();
    const ids = [[1, 2, 3, 4, 5]];
    await run('fp16', {
      config: tinyConfig({ steps: 2, warmup_steps: 1 }, { export: { dtype: 'float16' } }),
      onTrained: (m) => {
        const l = m.forward(ids);
        inMemory = l.dataSync() as Float32Array;
        l.dispose();
      },
    });
    const f = readSafetensors(join(root, 'fp16', 'model.safetensors'));
    expect([...f.entries.values()].every((e) => e.dtype === 'F16')).toBe(true);
    const m = Gpt2Model.fromWeights(await loadGpt2Weights(join(root, 'fp16')));
    const l = m.forward(ids);
    expect(maxDiff(l.dataSync(), inMemory)).toBeLessThan(2e-2);
    l.dispose();
    m.dispose();
    expect(tf.getBackend()).toBe('wasm');
  });
});
