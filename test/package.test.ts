/**
 * The package as a user gets it: build, `npm pack`, install the tarball into an empty project
 * offline, and run README's "Use as a library" block verbatim against it.
 *
 * Offline install: the tarball is unpacked into TMP/node_modules/spinbath (what npm does with a
 * tarball), and each package named in the packed package.json's `dependencies` (and nothing else)
 * is linked from this project's node_modules, standing in for the registry; their own
 * dependencies resolve from there. So a dependency missing from package.json, a file missing from
 * `files`, or an export missing from src/index.ts fails the run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = process.cwd();
let tmp = '';
let packed: { filename: string; files: { path: string }[] };

/** The first ```js block of README's "Use as a library" section. */
export function libraryBlock(readme: string): string {
  const start = readme.indexOf('## Use as a library');
  if (start < 0) throw new Error('README has no "## Use as a library" section');
  const m = /```js\n([\s\S]*?)```/.exec(readme.slice(start));
  if (!m) throw new Error('README "Use as a library" has no ```js block');
  return m[1];
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'spinbath-pack-'));
  // The build is incremental (tsconfig.build.json), so this is cheap when dist is current.
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  packed = (JSON.parse(out) as (typeof packed)[])[0];
}, 300_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('holds the built library, the CLI, configs, assets and the embedded model, and no tests, benchmarks or sources', () => {
    const paths = packed.files.map((f) => f.path);
    for (const p of [
      'package.json',
      'README.md',
      'bin/spinbath.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/main.js',
      'dist/sampling/generate.js',
      'dist/sampling/reverseWorker.js',
      'dist/training/train.js',
    ]) {
      expect(paths, p).toContain(p);
    }
    for (const prefix of ['configs/', 'assets/gpt2/', 'models/brown-small/', 'models/brown-small/score/'])
      expect(
        paths.some((p) => p.startsWith(prefix)),
        prefix,
      ).toBe(true);
    const forbidden = paths.filter(
      (p) =>
        /^(dist\/)?(test|bench|scripts)\//.test(p) || /^(src|training|sampling)\//.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts')) || p.endsWith('.map'),
    );
    expect(forbidden).toEqual([]);
  });

  it('runs the README "Use as a library" block verbatim from the installed tarball', () => {
    const proj = join(tmp, 'project');
    const nm = join(proj, 'node_modules');
    const pkgDir = join(nm, 'spinbath');
    mkdirSync(pkgDir, { recursive: true });
    execFileSync('tar', ['-xzf', join(tmp, packed.filename), '-C', pkgDir, '--strip-components=1']);
    const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(manifest.dependencies)) {
      const from = join(ROOT, 'node_modules', dep);
      expect(existsSync(from), `dependency ${dep} installed in this project`).toBe(true);
      mkdirSync(dirname(join(nm, dep)), { recursive: true });
      symlinkSync(resolve(from), join(nm, dep), 'dir');
    }
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'uses-spinbath', private: true, type: 'module' }));
    writeFileSync(join(proj, 'main.js'), libraryBlock(readFileSync(join(ROOT, 'README.md'), 'utf8')));
    const run = spawnSync(process.execPath, ['main.js'], { cwd: proj, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_PATH: '' } });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^context field: d = 128, \|N\| = \d+\.\d{3}$/);
    const ids = lines[1].split(' ').map(Number);
    expect(ids).toHaveLength(8);
    for (const id of ids) expect(Number.isInteger(id) && id >= 0 && id < 8257, `token id ${id}`).toBe(true);
    expect(lines[2].startsWith('The jury said that')).toBe(true);

    // The packed CLI runs from the installed package too (configs and toy presets come with it).
    const cli = spawnSync(
      process.execPath,
      [join(pkgDir, 'bin', 'spinbath.js'), 'toy', 'attractor', '--preset', 'fig2', '--steps', '2', '--json', '--backend', 'cpu'],
      {
        cwd: proj,
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    expect(cli.stderr).toBe('');
    expect(cli.status).toBe(0);
    expect((JSON.parse(cli.stdout) as { steps: unknown[] }).steps).toHaveLength(2);

    // Guided sampling with its reverse SDE on worker threads (the packed reverseWorker.js): the same bytes as one thread.
    const sample = (threads: string) =>
      spawnSync(
        process.execPath,
        [
          join(pkgDir, 'bin', 'spinbath.js'),
          'sample',
          '--prompt',
          'The jury said',
          '--samples',
          '16',
          '--tokens',
          '2',
          '--steps',
          '10',
          '--json',
          '--quiet',
          '--threads',
          threads,
        ],
        { cwd: proj, encoding: 'utf8', timeout: 120_000 },
      );
    const one = sample('1');
    const two = sample('2');
    expect(two.stderr).toBe('');
    expect(two.status).toBe(0);
    expect(two.stdout).toBe(one.stdout);
    expect(JSON.parse(two.stdout)).toHaveLength(16);
  });
});
