/**
 * Runs a Slurm array script's body once per array index, as the scheduler would: each run gets
 * SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, the script's own variables in `env`, and the
 * source-tree CLI as $SPINBATH. Async, so the vitest worker keeps answering while a shard runs.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export async function runSlurmArray(script: string, n: number, env: Record<string, string>): Promise<void> {
  for (let i = 0; i < n; i++) {
    await promisify(execFile)('bash', [script], {
      env: {
        ...process.env,
        SLURM_ARRAY_TASK_ID: String(i),
        SLURM_ARRAY_TASK_COUNT: String(n),
        SPINBATH: 'node --import tsx test/helpers/cli-entry.ts',
        ...env,
      },
    });
  }
}
