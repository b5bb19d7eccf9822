/**
 * A model directory's tokenizer must fit its embedding (src/model/tokenizer.ts
 * `checkTokenizerFitsModel`): V_tok (largest id + 1, added tokens included) > V_emb (rows of wte)
 * is refused with E_VOCAB naming both files and sizes; V_tok < V_emb is padding, accepted, with a
 * note only above PADDING_NOTE_ROWS rows. Checked on every loader: library `loadModel`, `lm eval`'s
 * `evaluateModelDir` and score training's `prepareScoreData`.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend.js';
import { UserError } from '../../src/errors.js';
import { evaluateModelDir } from '../../src/lm/eval.js';
import { loadGpt2Weights } from '../../src/model/checkpoint.js';
import { Gpt2Model } from '../../src/model/gpt2.js';
import { loadModel, type LoadedModel } from '../../src/model/load.js';
import { checkTokenizerFitsModel, PADDING_NOTE_ROWS } from '../../src/model/tokenizer.js';
import type { LanguageModel } from '../../src/model/engine.js';
import { dropPaddingRows } from '../../src/model/weights.js';
import { loadScoreConfig } from '../../training/config.js';
import { prepareScoreData } from '../../training/data.js';
import { runCli } from '../helpers/cli.js';
import { randomGpt2Weights, TINY_CONFIG, writeTinyGpt2 } from '../helpers/tinyGpt2.js';

const root = mkdtempSync(join(tmpdir(), 'sb-vocabfit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const D = (name: string) => join(root, name);

/** The rejection of `p` as a UserError (fails the test when `p` resolves or throws anything else). */
async function userError(p: Promise<unknown>): Promise<UserError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  return e as UserError;
}

async function load(dir: string, notes: string[] = []): Promise<LoadedModel> {
  return loadModel(dir, { engine: 'tfjs', onNote: (l) => notes.push(l) });
}

beforeAll(async () => {
  await useBackend('wasm');
  writeTinyGpt2(D('fit'), { seed: 1 }); // 300 rows, GPT-2's BPE with 43 merges: 300 ids
  writeTinyGpt2(D('big'), { seed: 1, tokenizerVocab: 50257 }); // 300 rows, GPT-2's 50,257 ids: inconsistent
  writeTinyGpt2(D('padded'), { seed: 2, config: { vocab_size: 320 }, tokenizerVocab: 300 });
  writeTinyGpt2(D('edge'), { seed: 3, config: { vocab_size: 300 + PADDING_NOTE_ROWS }, tokenizerVocab: 300 });
  writeTinyGpt2(D('wide'), { seed: 3, config: { vocab_size: 301 + PADDING_NOTE_ROWS }, tokenizerVocab: 300 });
  // only the legacy pair: vocab.json + merges.txt of GPT-2 (50,257 ids) next to 300 rows
  writeTinyGpt2(D('legacy'), { seed: 1, tokenizerVocab: 50257 });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) rmSync(join(D('legacy'), f));
  // an added special token at id 310, beyond the 300 ids of the BPE: V_tok = 311 (largest id + 1)
  for (const [name, rows] of [
    ['added300', 300],
    ['added311', 311],
  ] as const) {
    writeTinyGpt2(D(name), { seed: 4, config: { vocab_size: rows }, tokenizerVocab: 300 });
    const path = join(D(name), 'tokenizer.json');
    const json = JSON.parse(readFileSync(path, 'utf8')) as { added_tokens: object[] };
    json.added_tokens.push({ id: 310, content: '<|pad|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    writeFileSync(path, JSON.stringify(json));
  }
});

describe('checkTokenizerFitsModel', () => {
  it('refuses more token ids than embedding rows, naming both files and both sizes', () => {
    const e = (() => {
      try {
        checkTokenizerFitsModel({ vocabSize: 301, eosId: 300 }, 300, '/m');
      } catch (err) {
        return err as UserError;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(UserError);
    expect(e!.code).toBe('E_VOCAB');
    expect(e!.message).toContain('301 token ids');
    expect(e!.message).toContain('/m/config.json has vocab_size 300');
    expect(e!.message).toMatch(/\/m\/vocab\.json \+ merges\.txt/); // no tokenizer.json in /m
    expect(e!.message).toContain("use the model's own tokenizer files");
    expect(e!.message).not.toContain('\n');
  });

  it('accepts equal sizes and padding; notes only a gap above PADDING_NOTE_ROWS', () => {
    const notes: string[] = [];
    const note = (l: string) => notes.push(l);
    checkTokenizerFitsModel({ vocabSize: 300, eosId: 299 }, 300, '/m', note);
    checkTokenizerFitsModel({ vocabSize: 50257, eosId: 50256 }, 50304, '/m', note);
    checkTokenizerFitsModel({ vocabSize: 300, eosId: 299 }, 300 + PADDING_NOTE_ROWS, '/m', note);
    expect(notes).toEqual([]);
    checkTokenizerFitsModel({ vocabSize: 300, eosId: 299 }, 301 + PADDING_NOTE_ROWS, '/m', note);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^note: .*vocab_size 1325 .* only 300 token ids; the 1025 extra rows are treated as padding and not used$/);
  });

  it('refuses an end-of-text id outside the embedding', () => {
    expect(() => checkTokenizerFitsModel({ vocabSize: 10, eosId: 12 }, 11, '/m')).toThrow(/<\|endoftext\|> at id 12, outside the 11 rows/);
    expect(() => checkTokenizerFitsModel({ vocabSize: 10, eosId: 12 }, 13, '/m')).not.toThrow();
  });
});

describe('loadModel: a model directory whose tokenizer does not fit its embedding is refused', () => {
  it('loads a consistent fixture: 300 ids for 300 rows, text encodes inside the vocabulary and round-trips', async () => {
    const lm = await load(D('fit'));
    try {
      expect(lm.tokenizer.vocabSize).toBe(TINY_CONFIG.vocab_size);
      expect(lm.tokenizer.eosId).toBe(299);
      expect(lm.model.vocab).toBe(300);
      const text = 'The quick brown fox, naïve café 🎉';
      const ids = lm.tokenizer.encode(text);
      expect(Math.max(...ids)).toBeLessThan(300);
      expect(lm.tokenizer.decode(ids)).toBe(text);
    } finally {
      lm.dispose();
    }
  });

  it('refuses GPT-2’s 50,257-token tokenizer next to a 300-row embedding (E_VOCAB), tokenizer.json or the legacy pair', async () => {
    const e = await userError(load(D('big')));
    expect(e.code).toBe('E_VOCAB');
    expect(e.message).toBe(
      `${join(D('big'), 'tokenizer.json')} has 50257 token ids but ${join(D('big'), 'config.json')} has vocab_size 300 (rows of the embedding); they belong to different models: use the model's own tokenizer files (tokenizer.json, or vocab.json + merges.txt) in that directory`,
    );
    const legacy = await userError(load(D('legacy')));
    expect(legacy.code).toBe('E_VOCAB');
    expect(legacy.message).toContain(`${join(D('legacy'), 'vocab.json')} + merges.txt has 50257 token ids`);
  });

  it('counts added tokens by their largest id: an added id 310 needs 311 rows', async () => {
    const e = await userError(load(D('added300')));
    expect(e.code).toBe('E_VOCAB');
    expect(e.message).toContain('has 311 token ids');
    const lm = await load(D('added311'));
    try {
      expect(lm.tokenizer.vocabSize).toBe(311);
      expect(lm.tokenizer.encode('a<|pad|>')).toEqual([...lm.tokenizer.encode('a'), 310]);
    } finally {
      lm.dispose();
    }
  });

  it.each(['tfjs', 'ort'] as const)(
    'accepts a padded embedding (320 rows for 300 ids) without a note on %s; padding rows are dropped, the other logits unchanged',
    async (engine) => {
      const notes: string[] = [];
      const lm = await loadModel(D('padded'), { engine, onNote: (l) => notes.push(l) });
      const full = Gpt2Model.fromWeights(await loadGpt2Weights(D('padded'))); // all 320 rows, the reference
      try {
        expect(notes.filter((n) => /padding/.test(n))).toEqual([]);
        expect(lm.engine).toBe(engine);
        expect(lm.tokenizer.vocabSize).toBe(300);
        expect(lm.model.vocab).toBe(300);
        const ids = lm.tokenizer.encode('Hello there');
        const got = await lm.model.forwardAsync([ids]); // [batch, pos, 300]
        const ref = full.forward([ids]); // [batch, pos, 320]
        try {
          expect(got.shape).toEqual([1, ids.length, 300]);
          expect(ref.shape).toEqual([1, ids.length, 320]);
          const a = (await got.array()) as number[][][];
          const b = (await ref.array()) as number[][][];
          let worst = 0;
          for (let p = 0; p < ids.length; p++) for (let v = 0; v < 300; v++) worst = Math.max(worst, Math.abs(a[0][p][v] - b[0][p][v]));
          expect(worst).toBeLessThan(1e-4);
        } finally {
          got.dispose();
          ref.dispose();
        }
      } finally {
        full.dispose();
        lm.dispose();
      }
    },
  );

  it('dropPaddingRows keeps the first rows of wte and of an untied head as views, and only those', () => {
    const w = randomGpt2Weights({ vocab_size: 310 }, 5, { untiedHead: true });
    const cut = dropPaddingRows(w, 300);
    expect(cut.config.vocab_size).toBe(300);
    expect(w.config.vocab_size).toBe(310);
    for (const name of ['wte.weight', 'lm_head.weight']) {
      const [t, full] = [cut.tensors.get(name)!, w.tensors.get(name)!];
      expect(t.shape).toEqual([300, 16]);
      expect(t.data.buffer).toBe(full.data.buffer);
      expect(Array.from(t.data)).toEqual(Array.from(full.data.subarray(0, 300 * 16)));
    }
    expect(cut.tensors.get('wpe.weight')).toBe(w.tensors.get('wpe.weight'));
    expect(dropPaddingRows(w, 310)).toBe(w);
  });

  it('notes padding above PADDING_NOTE_ROWS rows (once), and not at exactly that many', async () => {
    const atEdge: string[] = [];
    (await load(D('edge'), atEdge)).dispose();
    expect(atEdge.filter((n) => /padding/.test(n))).toEqual([]);
    const wide: string[] = [];
    (await load(D('wide'), wide)).dispose();
    expect(wide.filter((n) => /padding/.test(n))).toEqual([
      `note: ${join(D('wide'), 'config.json')} has vocab_size ${301 + PADDING_NOTE_ROWS} but ${join(D('wide'), 'tokenizer.json')} only 300 token ids; the ${1 + PADDING_NOTE_ROWS} extra rows are treated as padding and not used`,
    ]);
  });
});

describe('the other loaders use the same rule', () => {
  it('lm eval refuses the inconsistent directory before tokenising any corpus', async () => {
    const cacheDir = D('cache-eval');
    mkdirSync(cacheDir);
    const e = await userError(evaluateModelDir(D('big'), { split: 'validation', maxTokens: 8, cacheDir, engine: 'tfjs' }));
    expect(e.code).toBe('E_VOCAB');
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('score training refuses a model whose tokenizer has more ids than its embedding, before any cache is built', async () => {
    const cacheDir = D('cache-train');
    mkdirSync(cacheDir);
    const model = Gpt2Model.fromWeights(randomGpt2Weights({}, 1)) as unknown as LanguageModel;
    try {
      const e = await userError(prepareScoreData(loadScoreConfig('configs/score/tiny.json'), model, D('big'), { cacheDir }));
      expect(e.code).toBe('E_VOCAB');
      expect(existsSync(cacheDir) && readdirSync(cacheDir)).toEqual([]);
    } finally {
      model.dispose();
    }
  });
});

describe('the CLI on padded and inconsistent model directories', () => {
  const B = ['--backend', 'cpu'];

  it('logits: a padded directory runs without a note; the inconsistent one is refused with one line and nothing written', async () => {
    const ok = await runCli(['logits', '--model', D('padded'), '--text', 'Hello there', '--top', '300', '--json', ...B]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).not.toMatch(/padding/);
    const top = (JSON.parse(ok.stdout) as { top: { id: number }[] }).top;
    expect(top).toHaveLength(300);
    expect(new Set(top.map((t) => t.id)).size).toBe(300); // exactly the tokenizer's ids, no padding row
    const out = D('refused.json');
    const bad = await runCli(['logits', '--model', D('big'), '--text', 'Hello', '--out', out, ...B]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.trimEnd().split('\n')).toEqual([
      `spinbath: ${join(D('big'), 'tokenizer.json')} has 50257 token ids but ${join(D('big'), 'config.json')} has vocab_size 300 (rows of the embedding); they belong to different models: use the model's own tokenizer files (tokenizer.json, or vocab.json + merges.txt) in that directory`,
    ]);
    expect(existsSync(out)).toBe(false);
  });

  it('generate on an embedding with 1,025 padding rows: one note on stderr, and every sampled id decodes', async () => {
    const out = D('gen.jsonl');
    const r = await runCli(['generate', '--model', D('wide'), '--prompt', 'Hello', '--tokens', '10', '--samples', '4', '--seed', '3', '--out', out, ...B]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n').filter((l) => /padding/.test(l))).toHaveLength(1);
    const rows = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { tokens: number[] });
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row.tokens).toHaveLength(10);
      expect(Math.max(...row.tokens)).toBeLessThan(300);
    }
  });
});
