/**
 * docs/cluster.md: the Slurm array script, run locally for every array index with the scheduler's
 * variables set (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) on the tiny sweep, then merged: the
 * merge equals the unsharded run line for line (same run ids, generations and metrics).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readResults } from '../../sampling/sweep.js';
import { runCli } from '../helpers/cli.js';
import { runSlurmArray } from '../helpers/slurm.js';

const tmp = mkdtempSync(join(tmpdir(), 'spinbath-cluster-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The script between the slurm markers of docs/cluster.md. */
function slurmScript(): string {
  const md = readFileSync('docs/cluster.md', 'utf8');
  const m = /<!-- slurm:begin -->\s*```bash\n([\s\S]*?)```\s*<!-- slurm:end -->/.exec(md);
  if (!m) throw new Error('docs/cluster.md has no slurm:begin/end block');
  return m[1];
}

describe('docs/cluster.md Slurm array script', () => {
  it('is a batch script with an array directive that runs `spinbath sweep --shard`', () => {
    const s = slurmScript();
    expect(s.startsWith('#!/bin/bash\n')).toBe(true);
    expect(s).toMatch(/^#SBATCH --array=0-\d+$/m);
    expect(s).toMatch(/sweep --config "\$CONFIG" --shard "\$SLURM_ARRAY_TASK_ID\/\$COUNT"/);
  });

  it('refuses to run outside an array job (no SLURM_ARRAY_TASK_ID)', () => {
    const file = join(tmp, 'plain.sbatch');
    writeFileSync(file, slurmScript());
    const env: NodeJS.ProcessEnv = { ...process.env, SPINBATH: 'false' };
    delete env.SLURM_ARRAY_TASK_ID;
    expect(() => execFileSync('bash', [file], { env, stdio: 'pipe' })).toThrow(/Slurm array job/);
  });

  it('every array index of 3, then merge: equal to the unsharded run', async () => {
    const file = join(tmp, 'decisive.sbatch');
    writeFileSync(file, slurmScript());
    const out = join(tmp, 'runs');
    const n = 3;
    await runSlurmArray(file, n, {
      CONFIG: 'configs/sweeps/tiny.json',
      OUT: out,
    });
    const merged = join(tmp, 'merged');
    const m = await runCli(['sweep', 'merge', ...Array.from({ length: n }, (_, i) => join(out, `shard-${i}`)), '--out', merged, '--quiet']);
    expect(m.code, m.stderr).toBe(0);
    const whole = join(tmp, 'whole');
    const w = await runCli(['sweep', '--config', 'configs/sweeps/tiny.json', '--out', whole, '--quiet']);
    expect(w.code, w.stderr).toBe(0);
    const a = readResults(join(merged, 'results.jsonl')).lines;
    const b = readResults(join(whole, 'results.jsonl')).lines;
    expect(a.length).toBe(15);
    expect(a.map((l) => l.runId)).toEqual(b.map((l) => l.runId));
    expect(a.map((l) => JSON.stringify([l.params, l.generations]))).toEqual(b.map((l) => JSON.stringify([l.params, l.generations])));
    for (let k = 0; k < a.length; k++)
      for (const key of Object.keys(b[k].metrics)) {
        const x = a[k].metrics[key];
        const y = b[k].metrics[key];
        if (x === null || y === null) expect(x).toBe(y);
        else expect(Math.abs(x - y)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(y)));
      }
  }, 600_000);
});
