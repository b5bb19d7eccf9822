/**
 * `spinbath train` (src/cli/commands/train.ts) end to end on a tiny random GPT-2 with a truncated
 * BPE tokenizer: configs/score/tiny.json trains, exports a loadable score model and reports the
 * field cache; a second run reuses the cache; bad input gets one line and exit code 2.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { beforeAll, describe, expect, it } from 'vitest';
import { globalOptions, type Io } from '../../src/cli/io.js';
import { trainDef } from '../../src/cli/defs/training.js';
import { writeTruncatedTokenizer } from '../../src/data/bpe.js';
import { isUserError } from '../../src/errors.js';
import { saveGpt2Checkpoint } from '../../src/model/checkpoint.js';
import { loadScoreModel } from '../../src/score/scoreNet.js';
import { runCli } from '../helpers/cli.js';
import { randomGpt2Weights } from '../helpers/tinyGpt2.js';

/** The command inside a parser configured like src/cli/main.ts (until main registers it). */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: Io = { out: (t) => void (stdout += t), err: (t) => void (stderr += t) };
  try {
    await trainDef(io)(yargs(args).options(globalOptions))
      .strict()
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      })
      .parseAsync();
    return { code: 0, stdout, stderr };
  } catch (e) {
    stderr += `spinbath: ${(e as Error).message}\n`;
    return { code: isUserError(e) ? 2 : 1, stdout, stderr };
  }
}

const root = mkdtempSync(join(tmpdir(), 'sb-train-cli-'));
const cache = join(root, 'cache');
const B = ['--backend', 'wasm', '--quiet', '--cache-dir', cache];
const K = 256;

function writeModel(dir: string, n_embd: number, seed: number): void {
  saveGpt2Checkpoint(dir, randomGpt2Weights({ vocab_size: 257 + K, n_positions: 16, n_embd, n_layer: 2, n_head: 2 }, seed), { dtype: 'F32' });
  writeTruncatedTokenizer(dir, K);
}

beforeAll(() => {
  writeModel(join(root, 'lm'), 16, 1);
  writeModel(join(root, 'lm24'), 24, 2);
});

describe('spinbath train', () => {
  it('trains configs/score/tiny.json, exports a loadable score model, reuses the field cache and resumes', async () => {
    const out = join(root, 'run');
    const r = await run(['train', '--config', 'configs/score/tiny.json', '--model', join(root, 'lm'), '--out', out, '--json', ...B]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.steps).toBe(20);
    expect(j.d).toBe(16);
    expect(j.field_cache.train.status).toBe('built');
    expect(j.field_cache.train.pairs).toBe(2000);
    expect(j.field_cache.validation.pairs).toBe(400);
    for (const f of ['score.json', 'score.safetensors', 'loss-curve.svg', 'report.json']) expect(existsSync(join(out, f))).toBe(true);
    const m = await loadScoreModel(out);
    expect(m.meta).toMatchObject({ format: 'spinbath-score/1', d: 16, vocab: 513, fieldSource: 'final', eta: 0.5, fieldScaling: 'unit' });
    m.dispose();
    const again = await run([
      'train',
      '--config',
      'configs/score/tiny.json',
      '--model',
      join(root, 'lm'),
      '--out',
      join(root, 'run2'),
      '--stop-after',
      '10',
      '--json',
      ...B,
    ]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).field_cache.train.status).toBe('hit');
    expect(JSON.parse(again.stdout).final_val_loss).not.toBe(JSON.parse(again.stdout).initial_val_loss); // the loss at the stop, not step 1's
    // a stopped run is a valid --score (its latest checkpoint)
    const sampled = await runCli([
      'sample',
      '--model',
      join(root, 'lm'),
      '--score',
      join(root, 'run2'),
      '--prompt',
      'The',
      '--tokens',
      '2',
      '--steps',
      '3',
      '--json',
      '--backend',
      'cpu',
    ]);
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(JSON.parse(sampled.stdout).tokens).toHaveLength(2);
    // --seed overrides training.seed: same seed → byte-identical weights, another seed → different
    const weights = async (name: string, seed: string) => {
      const r = await run([
        'train',
        '--config',
        'configs/score/tiny.json',
        '--model',
        join(root, 'lm'),
        '--out',
        join(root, name),
        '--stop-after',
        '10',
        '--json',
        '--seed',
        seed,
        ...B,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).seed).toBe(Number(seed));
      return readFileSync(join(root, name, 'checkpoints', 'step-000010', 'params.safetensors'));
    };
    const s0 = readFileSync(join(root, 'run2', 'checkpoints', 'step-000010', 'params.safetensors'));
    expect(Buffer.compare(await weights('run-seed0', '0'), s0)).toBe(0);
    expect(Buffer.compare(await weights('run-seed7', '7'), s0)).not.toBe(0);
    const resumed = await run(['train', '--config', 'configs/score/tiny.json', '--model', join(root, 'lm'), '--out', join(root, 'run2'), '--resume', ...B]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/^trained 20 steps/);
  });

  it('refuses --resume with a model that does not match the run, before preparing any data', async () => {
    const out = join(root, 'run-mismatch');
    expect((await run(['train', '--config', 'configs/score/tiny.json', '--model', join(root, 'lm'), '--out', out, '--stop-after', '10', ...B])).code).toBe(0);
    const r = await run(['train', '--config', 'configs/score/tiny.json', '--model', join(root, 'lm24'), '--out', out, '--resume', ...B]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^spinbath: --resume: the model has d = 24 but the run in .* was trained with d = 16; pass the model the run was trained against/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const again = await run(['train', '--config', 'configs/score/tiny.json', '--model', join(root, 'lm'), '--out', out, ...B]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already holds a score-training run .* pass --resume/);
  });

  it('bad input: one line, exit 2', async () => {
    const bad = join(root, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        field: { context: 8 },
        schedule: { kind: 'linear', beta_max: 1 },
        network: { width: 8, depth: 1 },
        training: { batch_size: 4, steps: 2, lr: 1e-3, eval_every: 1, checkpoint_every: 1, sed: 1 },
      }),
    );
    const r = await run(['train', '--config', bad, '--model', join(root, 'lm'), '--out', join(root, 'x'), ...B]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/field training: unknown field\(s\) 'sed'/);
    const big = join(root, 'big.json');
    writeFileSync(
      big,
      JSON.stringify({
        field: { context: 64 },
        schedule: { kind: 'linear', beta_max: 1 },
        network: { width: 8, depth: 1 },
        training: { batch_size: 4, steps: 2, lr: 1e-3, eval_every: 1, checkpoint_every: 1 },
      }),
    );
    const r2 = await run(['train', '--config', big, '--model', join(root, 'lm'), '--out', join(root, 'y'), ...B]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/field\.context 64 exceeds the model's context of 16 positions/);
    const r3 = await run(['train', '--config', 'configs/score/tiny.json', ...B]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/train needs --out DIR/);
  });
});
