/**
 * config.json validation: Hugging Face defaults, n_ctx fallback, and one-line UserErrors that
 * name the field and the file.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { parseGpt2Config, readGpt2Config, writeGpt2Config } from '../../src/model/config.js';
import { bundledGpt2Dir } from '../../src/model/tokenizer.js';

const tmp = mkdtempSync(join(tmpdir(), 'spinbath-cfg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const base = { vocab_size: 300, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 4 };

function dirWith(content: string): string {
  const d = join(tmp, `m${n++}`);
  mkdirSync(d);
  writeFileSync(join(d, 'config.json'), content);
  return d;
}

function errorOf(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).not.toContain('\n');
    return e as UserError;
  }
  throw new Error('expected a UserError');
}

describe('GPT-2 config', () => {
  it('reads the bundled gpt2 config with its values', () => {
    const c = readGpt2Config(bundledGpt2Dir());
    expect(c).toMatchObject({ vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, n_inner: null });
    expect(c.activation_function).toBe('gelu_new');
    expect(c.layer_norm_epsilon).toBe(1e-5);
    expect(c.eos_token_id).toBe(50256);
  });

  it('fills Hugging Face defaults and falls back to n_ctx', () => {
    const { n_positions: _, ...rest } = base;
    const c = parseGpt2Config({ ...rest, n_ctx: 32 });
    expect(c.n_positions).toBe(32);
    expect(c.layer_norm_epsilon).toBe(1e-5);
    expect(c.activation_function).toBe('gelu_new');
    expect(c.tie_word_embeddings).toBe(true);
    expect(c.n_inner).toBeNull();
  });

  it('keeps unknown fields and round-trips through writeGpt2Config', () => {
    const d = join(tmp, `w${n++}`);
    writeGpt2Config(d, parseGpt2Config({ ...base, n_inner: 40, activation_function: 'relu', custom: 'x' }));
    const c = readGpt2Config(d);
    expect(c).toMatchObject({ ...base, n_inner: 40, activation_function: 'relu', custom: 'x', model_type: 'gpt2' });
  });

  it('names a missing field and the file', () => {
    const { n_head: _, ...rest } = base;
    const d = dirWith(JSON.stringify(rest));
    const e = errorOf(() => readGpt2Config(d));
    expect(e.code).toBe('E_CONFIG');
    expect(e.message).toContain("'n_head'");
    expect(e.message).toContain('missing');
    expect(e.message).toContain(join(d, 'config.json'));
  });

  it('names an invalid field', () => {
    const e = errorOf(() => readGpt2Config(dirWith(JSON.stringify({ ...base, n_layer: 2.5 }))));
    expect(e.message).toContain("'n_layer'");
    expect(e.message).toContain('2.5');
    expect(errorOf(() => parseGpt2Config({ ...base, vocab_size: '300' })).message).toContain("'vocab_size'");
  });

  it('rejects n_embd not divisible by n_head', () => {
    expect(errorOf(() => parseGpt2Config({ ...base, n_head: 3 })).message).toContain('must divide n_embd');
  });

  it('rejects unsupported activations and model types', () => {
    expect(errorOf(() => parseGpt2Config({ ...base, activation_function: 'silu' })).message).toContain("'silu'");
    expect(errorOf(() => parseGpt2Config({ ...base, model_type: 'llama' })).message).toContain("'llama'");
    for (const act of ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu']) {
      expect(parseGpt2Config({ ...base, activation_function: act }).activation_function).toBe(act);
    }
  });

  it('reports a missing file, malformed JSON and a missing n_positions', () => {
    expect(errorOf(() => readGpt2Config(join(tmp, 'nowhere'))).message).toContain('does not exist');
    const e = errorOf(() => readGpt2Config(dirWith('{"vocab_size": 3,')));
    expect(e.message).toContain('config.json');
    expect(e.message).toContain('not valid JSON');
    const { n_positions: _, ...rest } = base;
    expect(errorOf(() => parseGpt2Config(rest)).message).toContain("'n_positions'");
  });
});
