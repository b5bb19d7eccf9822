/**
 * The CLI contract beyond malformed input (issue 13): the run-directory lock (two real processes on
 * one --out: one runs, the other refuses at once with exit 2 naming the holder; a dead holder's lock
 * is taken over), same --seed → byte-identical output and another seed → different output for
 * sample, generate, lm train and train, --out FILE semantics, --version and per-subcommand help.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { acquireRunLock, LOCK_FILE } from '../../src/io/lock.js';
import { removeStaleTemps } from '../../src/io/output.js';
import { runCli } from '../helpers/cli.js';

const B = ['--backend', 'cpu'];
const root = mkdtempSync(join(tmpdir(), 'sb-contract-'));

beforeAll(() => {
  if (!existsSync('dist/src/cli/main.js')) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'ignore' });
});

describe('run-directory lock', () => {
  it('two real `lm train` processes on one --out: the second refuses at once with exit 2', async () => {
    const out = join(root, 'locked');
    const a = spawn('node', ['bin/spinbath.js', 'lm', 'train', '--config', 'configs/lm/tiny.json', '--out', out, '--quiet', ...B], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 600 && !existsSync(join(out, LOCK_FILE)); i++) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(join(out, LOCK_FILE))).toBe(true);
      const t0 = Date.now();
      const b = spawnSync('node', ['bin/spinbath.js', 'lm', 'train', '--config', 'configs/lm/tiny.json', '--out', out, ...B], { encoding: 'utf8' });
      expect(b.status).toBe(2);
      expect(b.stdout).toBe('');
      expect(b.stderr.trim().split('\n')).toHaveLength(1);
      expect(b.stderr).toMatch(new RegExp(`in use by spinbath lm train \\(pid ${a.pid} on `));
      expect(Date.now() - t0).toBeLessThan(30_000);
    } finally {
      a.kill('SIGKILL');
      await new Promise((r) => a.once('exit', r));
    }
  }, 120_000);

  it('takes over the lock of a dead process, and refuses a live one', () => {
    const dir = join(root, 'stale');
    mkdirSync(dir);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), command: 'spinbath sweep', since: 'then' }));
    const lock = acquireRunLock(dir, 'test');
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    expect(() => acquireRunLock(dir, 'second')).toThrow(/in use by test \(pid \d+/);
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('a sweep on a locked --out refuses at once, computing nothing', async () => {
    const dir = join(root, 'sweep-locked');
    const lock = acquireRunLock(dir, 'spinbath sweep');
    try {
      const r = await runCli(['sweep', '--config', 'configs/sweeps/tiny.json', '--out', dir, ...B]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/in use by spinbath sweep \(pid \d+ on /);
      expect(readdirSync(dir)).toEqual([LOCK_FILE]);
    } finally {
      lock.release();
    }
    expect(existsSync(dir)).toBe(false); // the lock created it, nothing was written: released, it is gone
  });

  it('removes temporary files of killed runs but not its own', () => {
    const dir = join(root, 'temps');
    mkdirSync(join(dir, 'checkpoints', '.step-000005.999999.tmp'), { recursive: true });
    writeFileSync(join(dir, 'checkpoints', '.latest.json.999999.0.tmp'), '{');
    writeFileSync(join(dir, `.merges.txt.${process.pid}.3.tmp`), 'x');
    writeFileSync(join(dir, 'keep.json'), '{}');
    expect(removeStaleTemps(dir)).toHaveLength(2);
    expect(readdirSync(join(dir, 'checkpoints'))).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual([`.merges.txt.${process.pid}.3.tmp`, 'checkpoints', 'keep.json']);
  });
});

describe('--seed governs every draw', () => {
  it('sample: same seed byte-identical, another seed differs', async () => {
    const run = (seed: string) =>
      runCli(['sample', '--prompt', 'The jury said', '--tokens', '6', '--steps', '8', '--samples', '2', '--json', '--seed', seed, ...B]);
    const [a, b, c] = [await run('7'), await run('7'), await run('8')];
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(c.stdout).not.toBe(a.stdout);
  }, 120_000);

  it('generate: same seed byte-identical, another seed differs', async () => {
    const run = (seed: string) =>
      runCli([
        'generate',
        '--prompt',
        'The jury said',
        '--prompt',
        'It was',
        '--tokens',
        '12',
        '--samples',
        '3',
        '--method',
        'temperature',
        '--json',
        '--seed',
        seed,
        ...B,
      ]);
    const [a, b, c] = [await run('7'), await run('7'), await run('8')];
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout.trim().split('\n')).toHaveLength(6); // --prompt repeats: 2 prompts × 3 samples
    expect(a.stdout).toBe(b.stdout);
    expect(c.stdout).not.toBe(a.stdout);
  }, 120_000);

  it('lm train: --seed overrides the config seed: same seed identical weights, another seed differs', async () => {
    const train = async (seed: string, name: string) => {
      const out = join(root, name);
      const r = await runCli(['lm', 'train', '--config', 'configs/lm/tiny.json', '--out', out, '--stop-after', '5', '--quiet', '--json', '--seed', seed, ...B]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).seed).toBe(Number(seed));
      const ck = JSON.parse(readFileSync(join(out, 'checkpoints', 'latest.json'), 'utf8')).dir as string;
      return readFileSync(join(out, 'checkpoints', ck, 'model.safetensors'));
    };
    const a = await train('1', 'lm-a');
    const b = await train('1', 'lm-b');
    const c = await train('2', 'lm-c');
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(a, c)).not.toBe(0);
  }, 600_000);
});

describe('help and version', () => {
  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it('each subcommand lists only its own flags, with no duplicated choices', async () => {
    const att = await runCli(['toy', 'attractor', '--help']);
    expect(att.stdout).toMatch(/--steps/);
    expect(att.stdout).not.toMatch(/--xi|--y\b/);
    const merge = await runCli(['sweep', 'merge', '--help']);
    expect(merge.stdout).not.toMatch(/--config|--shard/);
    const land = await runCli(['heads', 'landscape', '--help']);
    expect(land.stdout).not.toMatch(/"left", "left"|"embedding", "residual", "embedding"/);
    expect(land.stdout).toMatch(/--prompt-number/);
  });

  it('piped help is wrapped at 80 columns between words', async () => {
    const r = spawnSync('node', ['bin/spinbath.js', '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(Math.max(...r.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('head analysis, landscape, ablation, temperature sweep, guided generation');
  });

  it('a typo names one spelling of the flag', async () => {
    const r = await runCli(['heads', '--prompt-numbr', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/promptNumbr/);
  });
});
