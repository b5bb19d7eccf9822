/**
 * Progress bars on stderr (cli-progress) for long commands: shown on a terminal unless --quiet or
 * --json; otherwise silent, so piped output stays clean.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

const NONE: Progress = { update: () => {}, stop: () => {} };

export function progressBar(label: string, total: number, opts: { quiet?: boolean; json?: boolean; fields?: string } = {}): Progress {
  if (opts.quiet || opts.json || !process.stderr.isTTY) return NONE;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted}${opts.fields ? ' | ' + opts.fields : ''}`,
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { update: (d, p) => bar.update(d, p), stop: () => bar.stop() };
}
