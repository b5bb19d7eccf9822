/**
 * Shards of a job the sweep way (`spinbath sweep --shard i/n`, `spinbath train cache --shard i/n`):
 * 0-based i of n, work item k belonging to shard k mod n, so a Slurm array or a Kubernetes Indexed
 * Job runs shard $SLURM_ARRAY_TASK_ID / $JOB_COMPLETION_INDEX of n. One implementation for both.
 */
import { UserError } from '../errors.js';

/** Shard i of n (0-based). */
export interface Shard {
  index: number;
  count: number;
}

/** Parse `--shard i/n` (0-based i): a one-line UserError otherwise. */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count)
    throw new UserError('E_ARG', `--shard '${text}' is not i/n with 0 ≤ i < n (0-based, e.g. 0/4 … 3/4; Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)`);
  return { index, count };
}

/** Indices of the items of shard i of n among `total` items: index ≡ i (mod n). */
export function shardIndices(total: number, shard: Shard): number[] {
  const out: number[] = [];
  for (let k = shard.index; k < total; k += shard.count) out.push(k);
  return out;
}
