/**
 * An unwritable --out is refused before any work (issue 13): exit 2, one stderr line naming the
 * path, nothing on stdout, nothing created. Permissions must really apply, so the CLI runs as a
 * separate process: as the current user when it is not root, and as the unprivileged user
 * `nobody` (uid/gid 65534, through child_process' `uid`/`gid`) when the tests run as root, since
 * root ignores permission bits. Documented condition under which this file fails rather than
 * runs: as root, uid 65534 cannot run the CLI from this checkout (its files must be readable by
 * others and its parent directories traversable, as with a umask of 022); the failure says so.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
/** Spawn options that make permissions apply: the unprivileged user when we are root. */
const who = asRoot ? { uid: NOBODY, gid: NOBODY } : {};
const B = ['--backend', 'cpu'];

const base = mkdtempSync(join(tmpdir(), 'sb-unwritable-'));
const locked = join(base, 'locked'); // mode 0555: nobody (not even its owner) may create entries
const readOnly = join(base, 'ro.json'); // mode 0444 in a directory the CLI's user cannot write either

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [resolve('bin/spinbath.js'), ...args, ...B], {
    ...who,
    encoding: 'utf8',
    env: { ...process.env, HOME: base },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every path under `dir` with its kind, mode and size (what a refused command must leave unchanged). */
function tree(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const s = statSync(p);
    out.push(`${p} ${s.isDirectory() ? 'dir' : 'file'} ${(s.mode & 0o7777).toString(8)} ${s.size}`);
    if (s.isDirectory()) tree(p, out);
  }
  return out;
}

beforeAll(() => {
  if (!existsSync('dist/src/cli/main.js')) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'ignore' });
  mkdirSync(locked);
  writeFileSync(readOnly, '{}\n');
  chmodSync(readOnly, 0o444);
  chmodSync(locked, 0o555);
  chmodSync(base, 0o755); // mkdtemp makes 0700: let the unprivileged user reach `locked`
  if (asRoot) {
    const probe = spawnSync(process.execPath, [resolve('bin/spinbath.js'), '--version'], { ...who, encoding: 'utf8' });
    if (probe.status !== 0) {
      throw new Error(
        `tests run as root, and uid ${NOBODY} cannot run the CLI from ${resolve('.')} (${(probe.stderr || String(probe.error)).split('\n')[0]}): ` +
          'make the checkout readable by others and its parent directories traversable (umask 022) so permissions can be tested',
      );
    }
  }
});

afterAll(() => {
  chmodSync(locked, 0o755);
  rmSync(base, { recursive: true, force: true });
});

describe(`an unwritable --out is refused before any work (running as ${asRoot ? `uid ${NOBODY}, the tests being root` : 'the current user'})`, () => {
  const cases: [string, string[], string, RegExp][] = [
    ['toy: a directory to create under a read-only directory', ['toy', 'attractor', '--out', join(locked, 'toy')], join(locked, 'toy'), /is not writable/],
    ['toy: an existing read-only directory', ['toy', '--out', locked], locked, /is not writable/],
    [
      'lm train: a run directory under a read-only directory',
      ['lm', 'train', '--config', 'configs/lm/tiny.json', '--out', join(locked, 'run')],
      join(locked, 'run'),
      /is not writable/,
    ],
    [
      'logits: a file to create in a read-only directory',
      ['logits', '--text', 'hi', '--out', join(locked, 'logits.json')],
      join(locked, 'logits.json'),
      /is not writable/,
    ],
    ['env: a read-only file', ['env', '--out', readOnly], readOnly, /is not writable/],
  ];
  it.each(cases)('%s', (_name, args, path, why) => {
    const before = tree(base);
    const r = run(args);
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 2 });
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(path);
    expect(r.stderr).toMatch(why);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at |Error:/);
    expect(tree(base)).toEqual(before);
  });

  it('the same commands write where they may (the refusals above are about permissions alone)', () => {
    const free = join(base, 'free');
    mkdirSync(free);
    chmodSync(free, 0o777);
    try {
      const r = run(['env', '--out', join(free, 'env.json')]);
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(join(free, 'env.json'))).toBe(true);
      const t = run(['toy', 'attractor', '--out', join(free, 'toy')]);
      expect(t.code, t.stderr).toBe(0);
      expect(readdirSync(join(free, 'toy')).length).toBeGreaterThan(0);
    } finally {
      rmSync(free, { recursive: true, force: true });
    }
  });
});
