/** LM config validation: shipped configs parse; unknown, out-of-range and inconsistent fields are named in one line. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { configDifference, loadLmConfig, parseLmConfig } from '../../src/lm/config.js';

const tiny = JSON.parse(readFileSync('configs/lm/tiny.json', 'utf8')) as {
  model: Record<string, unknown>;
  training: Record<string, unknown>;
  [k: string]: unknown;
};
const edit = (f: (c: typeof tiny) => void) => {
  const c = structuredClone(tiny);
  f(c);
  return c;
};
const fails = (raw: unknown): string => {
  try {
    parseLmConfig(raw, 'x.json');
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a UserError');
};

describe('LM config', () => {
  it('parses the shipped configs', () => {
    expect(loadLmConfig('configs/lm/tiny.json').model.merges).toBe(256);
    const small = loadLmConfig('configs/lm/brown-small.json');
    expect(small.training.seq_len).toBeLessThanOrEqual(small.model.n_positions);
    expect(small.export.dtype).toBe('float16');
  });

  it('defaults export.dtype to float32 and accepts merges null (full GPT-2 BPE)', () => {
    const c = parseLmConfig(
      edit((c) => {
        delete c.export;
        c.model.merges = null;
      }),
      'x.json',
    );
    expect(c.export.dtype).toBe('float32');
    expect(c.model.merges).toBeNull();
  });

  it('names an unknown field', () => {
    expect(
      fails(
        edit((c) => {
          c.training.learning_rate = 0.1;
        }),
      ),
    ).toMatch(/x\.json: field training: unknown field\(s\) 'learning_rate'/);
    expect(
      fails(
        edit((c) => {
          c.extra = {};
        }),
      ),
    ).toMatch(/'extra'/);
  });

  it('names an out-of-range or mistyped field', () => {
    expect(
      fails(
        edit((c) => {
          c.training.lr = 0;
        }),
      ),
    ).toMatch(/field training\.lr: must be > 0/);
    expect(
      fails(
        edit((c) => {
          c.model.merges = 60000;
        }),
      ),
    ).toMatch(/field model\.merges: must be ≤ 50000/);
    expect(
      fails(
        edit((c) => {
          c.training.batch_size = 2.5;
        }),
      ),
    ).toMatch(/field training\.batch_size: expected an integer/);
    expect(
      fails(
        edit((c) => {
          c.training.beta2 = 1;
        }),
      ),
    ).toMatch(/field training\.beta2/);
    expect(
      fails(
        edit((c) => {
          delete c.training.seed;
        }),
      ),
    ).toMatch(/field training\.seed/);
  });

  it('checks cross-field rules', () => {
    expect(
      fails(
        edit((c) => {
          c.model.n_head = 3;
        }),
      ),
    ).toMatch(/field model\.n_head: 3 does not divide model\.n_embd 32/);
    expect(
      fails(
        edit((c) => {
          c.training.seq_len = 64;
        }),
      ),
    ).toMatch(/field training\.seq_len: 64 exceeds .*n_positions 32/);
    expect(
      fails(
        edit((c) => {
          c.training.min_lr = 1;
        }),
      ),
    ).toMatch(/field training\.min_lr/);
    expect(
      fails(
        edit((c) => {
          c.training.warmup_steps = 20;
        }),
      ),
    ).toMatch(/field training\.warmup_steps/);
  });

  it('reports the first differing field between two configs', () => {
    const a = parseLmConfig(tiny, 'a');
    expect(configDifference(a, parseLmConfig(tiny, 'b'))).toBeNull();
    expect(
      configDifference(
        a,
        parseLmConfig(
          edit((c) => {
            c.description = 'other';
            c.export = { dtype: 'float16' };
          }),
          'b',
        ),
      ),
    ).toBeNull();
    expect(
      configDifference(
        a,
        parseLmConfig(
          edit((c) => {
            c.training.lr = 0.001;
          }),
          'b',
        ),
      ),
    ).toEqual({ field: 'training.lr', saved: 0.003, given: 0.001 });
  });
});
