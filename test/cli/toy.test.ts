/** `spinbath toy`: the JSON contract, output files, and one-line errors with exit code 2. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const B = ['--backend', 'cpu'];

describe('spinbath toy attractor --json', () => {
  it('keeps the documented contract: steps[].{sequence, N, scores, next}, step 1 = the prompt', async () => {
    const r = await runCli(['toy', 'attractor', '--preset', 'fig2', '--steps', '6', '--json', ...B]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.steps).toHaveLength(6);
    expect(j.steps[0].sequence).toEqual(['A', 'C', 'B']);
    expect(j.steps[0].N).toHaveLength(3);
    expect(Object.keys(j.steps[0].scores).sort()).toEqual(['A', 'B', 'C', 'D']);
    expect(j.steps.map((s: { next: string }) => s.next)).toEqual(Array(6).fill('D'));
    expect(j.steps[5].sequence).toEqual(['A', 'C', 'B', 'D', 'D', 'D', 'D', 'D']);
  });

  it('is byte-identical across runs', async () => {
    const a = await runCli(['toy', 'attractor', '--json', '--seed', '3', ...B]);
    const b = await runCli(['toy', 'attractor', '--json', '--seed', '3', ...B]);
    expect(a.stdout).toBe(b.stdout);
  });

  it('runs a user bath from a JSON file and writes JSON + SVG into --out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-toy-'));
    const cfg = join(dir, 'bath.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        vocab: { x: [1, 0], y: [0, 1], z: [0.7, 0.7] },
        prompt: ['x', 'z'],
        WV: [
          [1, 0],
          [0, 2],
        ],
      }),
    );
    const r = await runCli(['toy', 'attractor', '--config', cfg, '--steps', '3', '--out', join(dir, 'out'), ...B]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'out', 'attractor.svg'), 'utf8')).toMatch(/^<svg/);
    expect(JSON.parse(readFileSync(join(dir, 'out', 'attractor.json'), 'utf8')).steps).toHaveLength(3);
  });

  it('writes every figure with `spinbath toy --out`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-toyall-'));
    const r = await runCli(['toy', '--out', dir, '--json', ...B]);
    expect(r.code).toBe(0);
    const files = readdirSync(dir).sort();
    for (const f of ['fig2-attractor', 'fig3-phase', 'fig4a-bias', 'fig4b-positional']) {
      expect(files).toContain(`${f}.json`);
      expect(files).toContain(`${f}.svg`);
    }
    expect(JSON.parse(r.stdout).fig4b.switchIteration).toBeGreaterThan(1);
  });
});

describe('bad input: one line, exit code 2, nothing written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bad-'));
  const write = (name: string, body: string) => {
    const p = join(dir, name);
    writeFileSync(p, body);
    return p;
  };
  const cases: [string, string[], RegExp][] = [
    ['mixed dimensions', ['--config', write('mixed.json', '{"vocab":{"a":[1,2],"b":[1,2,3]},"prompt":["a"]}')], /mixed dimensions/],
    ['non-square delta', ['--config', write('delta.json', '{"vocab":{"a":[1,2],"b":[2,1]},"prompt":["a"],"delta":[[1,2]],"xi":[0.1]}')], /delta is 1×2/],
    ['non-square W', ['--config', write('w.json', '{"vocab":{"a":[1,2],"b":[2,1]},"prompt":["a"],"WQ":[[1,2],[3,4],[5,6]]}')], /WQ is 3×2/],
    ['empty prompt', ['--prompt', ''], /prompt is empty/],
    ['unknown token', ['--prompt', 'A,Q'], /token 'Q' is not in the vocabulary/],
    ['non-finite number in a file', ['--config', write('inf.json', '{"vocab":{"a":[1,1e999],"b":[2,1]},"prompt":["a"]}')], /vocab\.a\[1\].*finite/],
    ['non-finite flag', ['--preset', 'fig4a', '--steps', 'NaN'], /--steps must be an integer in \[1, 100000\] \(got NaN\)/],
    ['unknown field', ['--config', write('unk.json', '{"vocab":{"a":[1],"b":[2]},"prompt":["a"],"temprature":2}')], /unknown field.*temprature/],
    ['malformed JSON', ['--config', write('bad.json', '{"vocab":')], /not valid JSON/],
    ['missing file', ['--config', join(dir, 'nope.json')], /does not exist/],
    ['unknown preset', ['--preset', 'fig9'], /preset, Given: "fig9", Choices: "fig2", "fig3", "fig4a", "fig4b"/],
  ];
  for (const [name, args, re] of cases) {
    it(name, async () => {
      const out = join(dir, `out-${name.replace(/\W/g, '_')}`);
      const r = await runCli(['toy', 'attractor', ...args, '--out', out, ...B]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('an unknown flag or command is a parse error with exit code 2', async () => {
    for (const args of [['toy', '--frobnicate'], ['nosuchcommand']]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
