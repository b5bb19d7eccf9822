/** The installed entry point (bin/spinbath.js → dist) and the env command. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

beforeAll(() => {
  // `npm ci` builds dist through the prepare script; build here too when running from a dev tree.
  if (!existsSync('dist/src/cli/main.js')) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'ignore' });
});

describe('bin/spinbath.js', () => {
  it('prints help listing the commands, exit 0', () => {
    const r = spawnSync('node', ['bin/spinbath.js', '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/spinbath toy/);
    expect(r.stdout).toMatch(/spinbath env/);
  });

  it('exits 2 with one line for bad input', () => {
    const r = spawnSync('node', ['bin/spinbath.js', 'toy', 'attractor', '--prompt', 'A,Z', '--backend', 'cpu'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('spinbath env', () => {
  it('reports the wasm backend with SIMD, and package versions', async () => {
    const r = await runCli(['env', '--json', '--backend', 'wasm']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.backend).toBe('wasm');
    expect(typeof j.simd).toBe('boolean');
    expect(j.versions['@tensorflow/tfjs-core']).toMatch(/^4\./);
  });

  it('names the missing package when an optional backend is asked for', async () => {
    const r = await runCli(['env', '--backend', 'tensorflow']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/@tensorflow\/tfjs-node/);
    const bad = await runCli(['env', '--backend', 'tpu']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown backend 'tpu'/);
  });
});
