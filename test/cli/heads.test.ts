/**
 * `spinbath heads` and `spinbath logits` on small random GPT-2s written in the HF layout:
 * JSON contracts, parity with the library, and one-line exit-2 errors that write nothing.
 */
import { cpSync, existsSync, rmSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { writeTinyGpt2 } from '../helpers/tinyGpt2.js';

const root = mkdtempSync(join(tmpdir(), 'sb-heads-'));
const full = join(root, 'full'); // GPT-2 vocabulary, so real prompts encode
const small = join(root, 'small'); // vocabulary 300, with GPT-2's BPE truncated to 43 merges
const prompts = join(root, 'p.json');
const B = ['--backend', 'wasm', '--quiet'];

beforeAll(() => {
  writeTinyGpt2(full, { seed: 5, config: { vocab_size: 50257, n_positions: 24, n_embd: 16, n_layer: 2, n_head: 2 } });
  writeTinyGpt2(small, { seed: 6 });
  writeFileSync(
    prompts,
    JSON.stringify([
      { prompt: 'The capital of France is Paris. The capital of Germany is', good: 'Berlin', bad: 'Rome' },
      { prompt: 'The opposite of hot is', good: 'cold', bad: 'warm' },
      { prompt: 'A triangle has three sides. A square has', good: 'four', bad: 'five' },
      { prompt: 'Lions are carnivores. Cows are', good: 'herbivores', bad: 'omnivores' },
    ]),
  );
});

describe('spinbath heads', () => {
  it('keeps the JSON contract and ranks heads by |r|; writes JSON, CSV, markdown and a scatter SVG', async () => {
    const out = join(root, 'out-main');
    const r = await runCli(['heads', '--model', full, '--prompts', prompts, '--mode', 'embedding', '--json', '--out', out, ...B]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.mode).toBe('embedding');
    expect(j.prompts).toHaveLength(4);
    expect(Object.keys(j.prompts[0]).sort()).toEqual(['actual', 'bad', 'bad_id', 'good', 'good_id', 'prompt']);
    expect(j.prompts[0].good_id).toBe(11307); // " Berlin"
    expect(j.heads).toHaveLength(4);
    for (const h of j.heads) expect(h.theory).toHaveLength(4);
    const absr = j.heads.map((h: { r: number }) => Math.abs(h.r));
    expect([...absr].sort((a, b) => b - a)).toEqual(absr);
    const files = readdirSync(out);
    for (const f of ['heads.json', 'heads.csv', 'heads.md']) expect(files).toContain(f);
    expect(files.some((f) => /^scatter-L\dH\d\.svg$/.test(f))).toBe(true);
    expect(readFileSync(join(out, 'heads.csv'), 'utf8').split('\n')[0]).toBe('layer,head,r,p,r_ln,p_ln');
  });

  it('residual-mode landscape, ablation and temperature subcommands produce their files', async () => {
    const out = join(root, 'out-sub');
    for (const sub of [
      ['landscape', '--head', '1.0'],
      ['ablate', '--heads', '0.1,1.0+1.1'],
      ['temperature', '--temps', '0.5,1,2'],
    ]) {
      const r = await runCli(['heads', ...sub, '--model', full, '--prompts', prompts, '--out', out, ...B]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(readdirSync(out).sort()).toEqual([
      'ablation.json',
      'ablation.svg',
      'landscape-L1H0-p1.json',
      'landscape-L1H0-p1.svg',
      'temperature.json',
      'temperature.svg',
    ]);
    const abl = JSON.parse(readFileSync(join(out, 'ablation.json'), 'utf8'));
    expect(abl.effects.map((e: { label: string }) => e.label)).toEqual(['none', 'L0H1', 'L1H0+L1H1']);
  });
  it('reads a CSV prompt file (quoted commas) the same as the JSON one', async () => {
    const csv = join(root, 'p.csv');
    const rows = JSON.parse(readFileSync(prompts, 'utf8')) as { prompt: string; good: string; bad: string }[];
    writeFileSync(csv, ['prompt,good,bad', ...rows.map((r) => `"${r.prompt.replace(/"/g, '""')}",${r.good},${r.bad}`)].join('\n') + '\n');
    const a = JSON.parse((await runCli(['heads', '--model', full, '--prompts', prompts, '--json', '--out', join(root, 'o1'), ...B])).stdout);
    const b = JSON.parse((await runCli(['heads', '--model', full, '--prompts', csv, '--json', '--out', join(root, 'o2'), ...B])).stdout);
    expect(b.prompts).toEqual(a.prompts);
    expect(b.heads).toEqual(a.heads);
  });
});

describe('spinbath logits', () => {
  it('prints ids, top tokens and, with --full, every logit; --text and --ids agree', async () => {
    const a = await runCli(['logits', '--model', full, '--text', 'Hello world', '--full', '--json', ...B]);
    expect(a.code).toBe(0);
    const j = JSON.parse(a.stdout);
    expect(j.ids).toEqual([15496, 995]);
    expect(j.logits).toHaveLength(50257);
    expect(j.top[0].logit).toBeCloseTo(Math.max(...j.logits), 5);
    const b = JSON.parse((await runCli(['logits', '--model', full, '--ids', '15496,995', '--json', ...B])).stdout);
    expect(b.top).toEqual(j.top);
  });
});

describe('bad input: one line, exit 2, no partial output', () => {
  const broken = (name: string, mutate: (dir: string) => void) => {
    const dir = join(root, name);
    cpSync(small, dir, { recursive: true });
    mutate(dir);
    return dir;
  };
  const header = (dir: string) => {
    const buf = readFileSync(join(dir, 'model.safetensors'));
    const n = Number(buf.readBigUInt64LE(0));
    return { buf, n, json: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) };
  };
  const rewriteHeader = (dir: string, edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void) => {
    const { buf, n, json } = header(dir);
    edit(json);
    let text = JSON.stringify(json);
    if (text.length > n) throw new Error('header grew');
    text = text.padEnd(n, ' ');
    writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([buf.subarray(0, 8), Buffer.from(text), buf.subarray(8 + n)]));
  };
  const cases: [string, () => string[], RegExp][] = [
    ['missing config.json', () => ['--model', broken('noconf', (d) => rmSync(join(d, 'config.json')))], /config\.json/],
    ['malformed config.json', () => ['--model', broken('badconf', (d) => writeFileSync(join(d, 'config.json'), '{"n_layer": 2,'))], /config\.json/],
    [
      'truncated safetensors',
      () => ['--model', broken('trunc', (d) => truncateSync(join(d, 'model.safetensors'), statSync(join(d, 'model.safetensors')).size - 100))],
      /model\.safetensors/,
    ],
    [
      'offset past the end',
      () => [
        '--model',
        broken('offset', (d) =>
          rewriteHeader(d, (h) => {
            const last = Object.values(h)
              .filter((t) => t.data_offsets)
              .sort((a, b) => b.data_offsets[1] - a.data_offsets[1])[0];
            last.data_offsets[1] = 10 ** String(last.data_offsets[1]).length - 1; // same digit count, past the end
          }),
        ),
      ],
      /offset|past|end/,
    ],
    ['unknown dtype', () => ['--model', broken('dtype', (d) => rewriteHeader(d, (h) => void (h['wpe.weight'].dtype = 'Q4')))], /Q4|dtype/],
    [
      'shape disagreeing with config.json',
      () => [
        '--model',
        broken('shape', (d) => {
          const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
          c.n_positions = 32;
          writeFileSync(join(d, 'config.json'), JSON.stringify(c));
        }),
      ],
      /wpe\.weight.*\[16, ?16\]|shape/,
    ],
    ['prompt longer than n_positions', () => ['--model', full, '--text', 'word '.repeat(40)], /longer than the model's context of 24.*--truncate left/],
    ['empty prompt', () => ['--model', full, '--text=', '--ids', '1'], /empty|conflict|mutually/],
    ['token id outside the vocabulary', () => ['--model', small, '--ids', '1,300'], /token id 300 is outside the model's vocabulary of 300/],
  ];
  for (const [name, args, re] of cases) {
    it(name, async () => {
      const a = args();
      const r = await runCli(['logits', ...(a.some((x) => x.startsWith('--text') || x === '--ids') ? [] : ['--text', 'Hello']), ...a, ...B]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    });
  }

  it('--truncate left keeps the last n_positions tokens', async () => {
    const r = await runCli(['logits', '--model', full, '--text', 'word '.repeat(40), '--truncate', 'left', '--json', ...B]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).ids).toHaveLength(24);
  });

  it('heads: an empty prompt or a bad word fails before any file is written', async () => {
    const bad = join(root, 'bad.json');
    for (const rows of [[{ prompt: '', good: 'a', bad: 'b' }], [{ prompt: 'The sky is', good: ' ', bad: 'red' }]]) {
      writeFileSync(bad, JSON.stringify(rows));
      const out = join(root, 'never');
      const r = await runCli(['heads', '--model', full, '--prompts', bad, '--out', out, ...B]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    }
  });
});
