/**
 * The CLI contract under malformed input (issue 13): every case below exits 2 with exactly one line
 * on stderr, no stack trace, nothing on stdout, and no file created, changed or deleted (a snapshot
 * of the scratch tree before and after each case). Cases fail before any model loads where the
 * input alone is wrong; a few need the embedded model (vocabulary, heads, tokenizer files).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'sb-fuzz-'));
const P = (...p: string[]) => join(root, ...p);
const B = ['--backend', 'cpu'];

/** path → size:sha256 of every file and every directory under `dir`. */
function snapshot(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      out.set(p + '/', 'dir');
      snapshot(p, out);
    } else out.set(p, `${statSync(p).size}:${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
  }
  return out;
}

const w = (name: string, body: string) => {
  writeFileSync(P(name), body);
  return P(name);
};

beforeAll(() => {
  mkdirSync(P('adir'));
  w('afile', 'x');
  w('prompts.txt', 'Hello there\n');
  w('gens.jsonl', '{"prompt": "Hello", "text": " there"}\n');
  w('pairs.json', JSON.stringify([{ prompt: 'The cat', good: 'sat', bad: 'ran' }]));
  // a model directory without tokenizer files
  mkdirSync(P('notok'));
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join('models', 'brown-small', f), P('notok', f));
  mkdirSync(P('halftok'));
  for (const f of ['config.json', 'model.safetensors', 'vocab.json']) copyFileSync(join('models', 'brown-small', f), P('halftok', f));
  // model directories whose tokenizer has more ids (GPT-2's 50,257) than the embedding has rows (brown-small's 8,257)
  for (const [name, files] of [
    ['bigtok', ['tokenizer.json', 'tokenizer_config.json']],
    ['bigvocab', ['vocab.json', 'merges.txt']],
  ] as const) {
    mkdirSync(P(name));
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join('models', 'brown-small', f), P(name, f));
    for (const f of files) copyFileSync(join('assets', 'gpt2', f), P(name, f));
  }
  // a run directory whose checkpoint pointer is corrupt
  mkdirSync(P('badrun', 'checkpoints'), { recursive: true });
  w(join('badrun', 'checkpoints', 'latest.json'), '{not json');
  mkdirSync(P('goodrun', 'checkpoints', 'step-000005'), { recursive: true });
  w(join('goodrun', 'checkpoints', 'latest.json'), JSON.stringify({ step: 5, dir: 'step-000005' }));
});

afterAll(() => {
  expect(existsSync('spinbath-out'), 'a default output directory appeared in the working directory').toBe(false);
});

const bad = {
  json: () => w('bad.json', '{"a": '),
  emptyJsonl: () => w('empty.jsonl', '\n\n'),
  jsonlNoText: () => w('notext.jsonl', '{"prompt": "a"}\n'),
  jsonlEmptyPrompt: () => w('emptyprompt.jsonl', '{"prompt": "ok"}\n{"prompt": ""}\n'),
  jsonlBadLine: () => w('badline.jsonl', '{"text": "a"}\n{oops\n'),
  jsonlNegTokens: () => w('neg.jsonl', '{"text": "a", "tokens": [-1]}\n'),
  promptsEmptyLine: () => w('blank.json', JSON.stringify(['ok', '  '])),
  promptsNotStrings: () => w('nums.json', JSON.stringify([1, 2])),
  promptsObjNoPrompt: () => w('noprompt.json', JSON.stringify({ prompts: [{ text: 'a' }] })),
  promptsEmptyFile: () => w('none.txt', '\n \n'),
  csvNoColumn: () => w('nocol.csv', 'text\nhello\n'),
  csvBroken: () => w('broken.csv', 'prompt\n"unterminated\n'),
  pairsMissingBad: () => w('nobad.json', JSON.stringify([{ prompt: 'a', good: 'b' }])),
  pairsTxt: () => w('pairs.txt', 'a b c\n'),
  pairsEmptyPrompt: () => w('emptyprompt.json', JSON.stringify([{ prompt: '', good: 'b', bad: 'c' }])),
  toyMixed: () => w('mixed.json', '{"vocab":{"a":[1,2],"b":[1,2,3]},"prompt":["a"]}'),
  toyArray: () => w('toyarr.json', '[1,2]'),
  toyUnknown: () => w('toyunk.json', '{"vocab":{"a":[1,0]},"prompt":["a"],"colour":1}'),
  lmConfigBad: () => w('lmbad.json', '{"model": {"n_layer": 0}}'),
  lmConfigUnknown: () => w('lmunk.json', JSON.stringify({ ...JSON.parse(readFileSync('configs/lm/tiny.json', 'utf8')), extra: 1 })),
  scoreConfigBad: () => w('scorebad.json', '{"training": {"steps": -3}}'),
  sweepEmpty: () => w('sweepempty.json', '{"tokens": 4}'),
  sweepBadEta: () => w('sweepeta.json', '{"tokens": 4, "guided": {"eta": [-1]}}'),
  sweepUnknown: () => w('sweepunk.json', '{"tokens": 4, "baselines": [{"method": "greedy"}], "colour": 1}'),
  sweepBadBaseline: () => w('sweepbase.json', '{"tokens": 4, "baselines": [{"method": "top-p"}]}'),
  sweepEmptyText: () => w('sweeptext.json', '{"tokens": 4, "prompts": {"texts": [""]}, "baselines": [{"method": "greedy"}]}'),
  sweepNotJson: () => w('sweepnot.json', 'nope'),
};

/** [name, argv, expected message]: every one must be refused with exit 2 and leave the tree untouched. */
function cases(): [string, string[], RegExp | undefined][] {
  const c: [string, string[], RegExp | undefined][] = [];
  const add = (name: string, argv: string[], message?: RegExp) => c.push([name, [...argv, ...B], message]);
  const addRaw = (name: string, argv: string[]) => c.push([name, argv, undefined]);
  // global flags and parsing
  for (const s of ['abc', '1.5', '-1', '1e3x', '4294967296', '', ' ', '0x10']) add(`--seed ${JSON.stringify(s)}`, ['env', '--seed', s]);
  add('unknown command', ['frobnicate']);
  add('no command', []);
  add('unknown flag', ['env', '--colour']);
  add('typo of a flag', ['heads', '--prompt-numbr', '2']);
  addRaw('backend unknown', ['env', '--backend', 'tpu']);
  addRaw('backend missing package', ['env', '--backend', 'tensorflow']);
  add('env --out dir', ['env', '--out', P('adir')]);
  add('env --out under a file', ['env', '--out', P('afile', 'x.json')]);
  // the engine group (issue 10) on every model command
  for (const [cmd, argv] of [
    ['logits', ['logits', '--ids', '1,2']],
    ['env', ['env']],
    ['lm eval', ['lm', 'eval', '--model', 'models/brown-small']],
    ['metrics', ['metrics', '--input', P('prompts.txt')]],
  ] as const) {
    add(`${cmd} --engine onnx`, [...argv, '--engine', 'onnx']);
    add(`${cmd} --threads 0`, [...argv, '--threads', '0']);
    add(`${cmd} --threads 1.5`, [...argv, '--threads', '1.5']);
  }
  add('generate --engine twice', ['generate', '--prompt', 'a', '--engine', 'tfjs', '--engine', 'ort']);
  // toy
  add('toy --steps -1', ['toy', 'attractor', '--steps', '-1']);
  add('toy --steps 0', ['toy', 'attractor', '--steps', '0']);
  add('toy --steps 1.5', ['toy', 'attractor', '--steps', '1.5']);
  add('toy --steps NaN', ['toy', 'attractor', '--steps', 'NaN']);
  add('toy --steps huge', ['toy', 'attractor', '--steps', '1e9']);
  add('toy --y 2', ['toy', 'positional', '--y', '2']);
  add('toy --y NaN', ['toy', 'positional', '--y', 'NaN']);
  add('toy --xi junk', ['toy', 'phase', '--xi', '0,x']);
  add('toy --xi empty item', ['toy', 'phase', '--xi', '0,,1']);
  add('toy unknown preset', ['toy', 'attractor', '--preset', 'fig9']);
  add('toy preset+config', ['toy', 'attractor', '--preset', 'fig2', '--config', P('toyarr.json')]);
  add('toy config missing', ['toy', 'attractor', '--config', P('nope.json')]);
  add('toy config not JSON', ['toy', 'attractor', '--config', bad.json()]);
  add('toy config mixed dims', ['toy', 'attractor', '--config', bad.toyMixed()]);
  add('toy config array', ['toy', 'attractor', '--config', bad.toyArray()]);
  add('toy config unknown field', ['toy', 'attractor', '--config', bad.toyUnknown()]);
  add('toy prompt unknown token', ['toy', 'attractor', '--prompt', 'A,Z']);
  add('toy --out file', ['toy', '--out', P('afile')]);
  add('toy attractor --out file', ['toy', 'attractor', '--out', P('afile')]);
  add('toy --out under a file', ['toy', '--out', P('afile', 'sub')]);
  add('toy xi flag on attractor', ['toy', 'attractor', '--xi', '0']);
  add('toy all with --steps', ['toy', '--steps', '3', '--out', P('adir')]);
  // logits
  add('logits nothing', ['logits']);
  add('logits --text empty', ['logits', '--text', '']);
  add('logits --text blank', ['logits', '--text', '   ']);
  add('logits text+ids', ['logits', '--text', 'a', '--ids', '1']);
  add('logits --ids junk', ['logits', '--ids', '1,x']);
  add('logits --ids negative', ['logits', '--ids', '-3']);
  add('logits --ids fraction', ['logits', '--ids', '1.5']);
  add('logits --ids empty item', ['logits', '--ids', '1,,2']);
  add('logits --top 0', ['logits', '--text', 'hi', '--top', '0']);
  add('logits --top NaN', ['logits', '--text', 'hi', '--top', 'NaN']);
  add('logits --top 1.5', ['logits', '--text', 'hi', '--top', '1.5']);
  add('logits --out dir', ['logits', '--text', 'hi', '--out', P('adir')]);
  add('logits --truncate right', ['logits', '--text', 'hi', '--truncate', 'right']);
  add('logits --model empty', ['logits', '--text', 'hi', '--model', '']);
  add('logits --model missing dir', ['logits', '--text', 'hi', '--model', P('nomodel'), '--offline']);
  add('logits --ids out of vocabulary', ['logits', '--ids', '99999999']);
  add('logits model without tokenizer', ['logits', '--text', 'hi', '--model', P('notok')]);
  add('logits model with half a tokenizer', ['logits', '--text', 'hi', '--model', P('halftok')]);
  // a tokenizer whose ids do not fit the embedding, on every command that loads a model
  const tooBig = (file: string) => new RegExp(`${file} has 50257 token ids but .*config\\.json has vocab_size 8257 .*use the model's own tokenizer files`);
  const bigtok = tooBig('bigtok/tokenizer\\.json');
  add('logits tokenizer larger than the embedding', ['logits', '--text', 'hi', '--model', P('bigtok')], bigtok);
  add('logits vocab.json larger than the embedding', ['logits', '--ids', '1,2', '--model', P('bigvocab')], tooBig('bigvocab/vocab\\.json \\+ merges\\.txt'));
  add('generate tokenizer larger than the embedding', ['generate', '--prompt', 'hi', '--tokens', '2', '--model', P('bigtok'), '--out', P('gen.txt')], bigtok);
  add('sample tokenizer larger than the embedding', ['sample', '--prompt', 'hi', '--tokens', '2', '--model', P('bigtok'), '--out', P('sample.txt')], bigtok);
  add('heads tokenizer larger than the embedding', ['heads', '--model', P('bigtok'), '--out', P('hout')], bigtok);
  add(
    'metrics evaluator tokenizer larger than the embedding',
    ['metrics', '--input', P('gens.jsonl'), '--evaluator', P('bigtok'), '--out', P('m.json')],
    bigtok,
  );
  add('lm eval tokenizer larger than the embedding', ['lm', 'eval', '--model', P('bigtok'), '--max-tokens', '8', '--out', P('eval.json')], bigtok);
  add('train tokenizer larger than the embedding', ['train', '--config', 'configs/score/tiny.json', '--model', P('bigtok'), '--out', P('srun')], bigtok);
  add('sweep tokenizer larger than the embedding', ['sweep', '--config', 'configs/sweeps/tiny.json', '--model', P('bigtok'), '--out', P('sw')], bigtok);
  add('demo tokenizer larger than the embedding', ['demo', '--model', P('bigtok'), '--out', P('demo')], bigtok);
  // heads
  add('heads --top NaN', ['heads', '--top', 'NaN', '--out', P('hout')]);
  add('heads --top 0', ['heads', '--top', '0', '--out', P('hout')]);
  add('heads --mode bad', ['heads', '--mode', 'attention']);
  add('heads --out file', ['heads', '--out', P('afile')]);
  add('heads prompts missing', ['heads', '--prompts', P('nope.json'), '--out', P('hout')]);
  add('heads prompts not JSON', ['heads', '--prompts', bad.json(), '--out', P('hout')]);
  add('heads prompts missing bad', ['heads', '--prompts', bad.pairsMissingBad(), '--out', P('hout')]);
  add('heads prompts txt', ['heads', '--prompts', bad.pairsTxt(), '--out', P('hout')]);
  add('heads prompts empty prompt', ['heads', '--prompts', bad.pairsEmptyPrompt(), '--out', P('hout')]);
  add('heads prompts a directory', ['heads', '--prompts', P('adir'), '--out', P('hout')]);
  add('heads landscape no head', ['heads', 'landscape', '--out', P('hout')]);
  add('heads landscape --prompt-number 0', ['heads', 'landscape', '--head', '0.0', '--prompt-number', '0', '--out', P('hout')]);
  add('heads landscape --prompt-number past the end', [
    'heads',
    'landscape',
    '--head',
    '0.0',
    '--prompts',
    P('pairs.json'),
    '--prompt-number',
    '5',
    '--out',
    P('hout'),
  ]);
  add('heads landscape bad head', ['heads', 'landscape', '--head', 'x', '--prompts', P('pairs.json'), '--out', P('hout')]);
  add('heads landscape head out of range', ['heads', 'landscape', '--head', '99.0', '--prompts', P('pairs.json'), '--out', P('hout')]);
  add('heads ablate empty heads', ['heads', 'ablate', '--heads', '', '--out', P('hout')]);
  add('heads ablate --kind bad', ['heads', 'ablate', '--heads', '0.0', '--kind', 'half']);
  add('heads temperature --temps 0', ['heads', 'temperature', '--temps', '0,1', '--out', P('hout')]);
  add('heads temperature --temps junk', ['heads', 'temperature', '--temps', 'a', '--out', P('hout')]);
  add('heads temps flag on rank', ['heads', '--temps', '1']);
  add('demo --out file', ['demo', '--out', P('afile')]);
  add('demo prompts missing', ['demo', '--prompts', P('nope.json'), '--out', P('dout')]);
  // sample
  add('sample no prompt', ['sample']);
  add('sample --prompt empty', ['sample', '--prompt', '']);
  add('sample --prompt blank', ['sample', '--prompt', '  ']);
  add('sample prompt+prompts', ['sample', '--prompt', 'a', '--prompts', P('prompts.txt')]);
  add('sample --tokens 0', ['sample', '--prompt', 'hi', '--tokens', '0']);
  add('sample --tokens 1e9', ['sample', '--prompt', 'hi', '--tokens', '1e9']);
  add('sample --tokens NaN', ['sample', '--prompt', 'hi', '--tokens', 'NaN']);
  add('sample --tokens 2.5', ['sample', '--prompt', 'hi', '--tokens', '2.5']);
  add('sample --tokens given twice', ['sample', '--prompt', 'hi', '--tokens', '2', '--tokens', '3']);
  add('sample --prompt given twice', ['sample', '--prompt', 'hi', '--prompt', 'there']);
  add('toy --steps given twice', ['toy', 'attractor', '--steps', '2', '--steps', '3']);
  add('sample --samples 0', ['sample', '--prompt', 'hi', '--samples', '0']);
  add('sample --eta -1', ['sample', '--prompt', 'hi', '--eta', '-1']);
  add('sample --eta NaN', ['sample', '--prompt', 'hi', '--eta', 'NaN']);
  add('sample --eta Infinity', ['sample', '--prompt', 'hi', '--eta', 'Infinity']);
  add('sample --lambda -1', ['sample', '--prompt', 'hi', '--lambda', '-1']);
  add('sample --gamma 0', ['sample', '--prompt', 'hi', '--lambda', '1', '--gamma', '0']);
  add('sample --gamma without lambda', ['sample', '--prompt', 'hi', '--gamma', '1']);
  add('sample --precession without lambda', ['sample', '--prompt', 'hi', '--precession', 'cross']);
  add('sample --precession bad', ['sample', '--prompt', 'hi', '--lambda', '1', '--precession', 'spin']);
  add('sample --steps 0', ['sample', '--prompt', 'hi', '--steps', '0']);
  add('sample --steps huge', ['sample', '--prompt', 'hi', '--steps', '1000001']);
  add('sample --schedule bad', ['sample', '--prompt', 'hi', '--schedule', 'square']);
  add('sample --beta-min > --beta-max', ['sample', '--prompt', 'hi', '--beta-min', '5', '--beta-max', '1']);
  add('sample --beta-max 0', ['sample', '--prompt', 'hi', '--beta-max', '0']);
  add('sample --integrator bad', ['sample', '--prompt', 'hi', '--integrator', 'rk4']);
  add('sample --readout bad', ['sample', '--prompt', 'hi', '--readout', 'argmax']);
  add('sample --readout-temperature 0', ['sample', '--prompt', 'hi', '--readout-temperature', '0']);
  add('sample --field-source bad', ['sample', '--prompt', 'hi', '--field-source', 'layer:x']);
  add('sample --field-scale bad', ['sample', '--prompt', 'hi', '--field-scale', 'half']);
  add('sample --out dir', ['sample', '--prompt', 'hi', '--out', P('adir')]);
  add('sample --score missing', ['sample', '--prompt', 'hi', '--score', P('noscore')]);
  add('sample --score not a run', ['sample', '--prompt', 'hi', '--score', P('adir')]);
  add('sample --score corrupt run', ['sample', '--prompt', 'hi', '--score', P('badrun')]);
  add('sample prompts empty file', ['sample', '--prompts', bad.promptsEmptyFile()]);
  add('sample prompts blank entry', ['sample', '--prompts', bad.promptsEmptyLine()]);
  add('sample prompts numbers', ['sample', '--prompts', bad.promptsNotStrings()]);
  add('sample prompts objects without prompt', ['sample', '--prompts', bad.promptsObjNoPrompt()]);
  add('sample prompts CSV without column', ['sample', '--prompts', bad.csvNoColumn()]);
  add('sample prompts broken CSV', ['sample', '--prompts', bad.csvBroken()]);
  add('sample prompts JSONL broken line', ['sample', '--prompts', bad.jsonlBadLine()]);
  add('sample prompt too long for the context', ['sample', '--prompt', 'word '.repeat(3000), '--tokens', '2']);
  // generate
  add('generate no prompt', ['generate']);
  add('generate --prompt empty', ['generate', '--prompt', '']);
  add('generate --tokens 0', ['generate', '--prompt', 'hi', '--tokens', '0']);
  add('generate --samples -2', ['generate', '--prompt', 'hi', '--samples', '-2']);
  add('generate --method bad', ['generate', '--prompt', 'hi', '--method', 'beam']);
  add('generate --top-k 0', ['generate', '--prompt', 'hi', '--top-k', '0']);
  add('generate --top-p 1.5', ['generate', '--prompt', 'hi', '--top-p', '1.5']);
  add('generate --top-p 0', ['generate', '--prompt', 'hi', '--top-p', '0']);
  add('generate --temperature 0', ['generate', '--prompt', 'hi', '--temperature', '0']);
  add('generate --temperature with greedy', ['generate', '--prompt', 'hi', '--method', 'greedy', '--temperature', '0.5']);
  add('generate --top-p with top-k', ['generate', '--prompt', 'hi', '--method', 'top-k', '--top-k', '3', '--top-p', '0.5']);
  add('generate --repetition-penalty -1', ['generate', '--prompt', 'hi', '--repetition-penalty', '-1']);
  add('generate --batch-size 0', ['generate', '--prompt', 'hi', '--batch-size', '0']);
  add('generate --out dir', ['generate', '--prompt', 'hi', '--out', P('adir')]);
  add('generate --out trailing slash', ['generate', '--prompt', 'hi', '--out', P('new') + '/']);
  add('generate --prompt-file missing', ['generate', '--prompt-file', P('nope.txt')]);
  add('generate --prompt-file JSONL with an empty prompt', ['generate', '--prompt-file', bad.jsonlEmptyPrompt()]);
  add('generate --prompt-file a directory', ['generate', '--prompt-file', P('adir')]);
  // metrics
  add('metrics no input', ['metrics']);
  add('metrics input missing', ['metrics', '--input', P('nope.jsonl')]);
  add('metrics input a directory', ['metrics', '--input', P('adir')]);
  add('metrics empty JSONL', ['metrics', '--input', bad.emptyJsonl()]);
  add('metrics JSONL without text', ['metrics', '--input', bad.jsonlNoText()]);
  add('metrics JSONL broken line', ['metrics', '--input', bad.jsonlBadLine()]);
  add('metrics JSONL negative token', ['metrics', '--input', bad.jsonlNegTokens()]);
  // lm
  add('lm no subcommand', ['lm']);
  add('lm train no config', ['lm', 'train', '--out', P('lmrun')]);
  add('lm train no out', ['lm', 'train', '--config', 'configs/lm/tiny.json']);
  add('lm train --out file', ['lm', 'train', '--config', 'configs/lm/tiny.json', '--out', P('afile')]);
  add('lm train config missing', ['lm', 'train', '--config', P('nope.json'), '--out', P('lmrun')]);
  add('lm train config not JSON', ['lm', 'train', '--config', bad.json(), '--out', P('lmrun')]);
  add('lm train config out of range', ['lm', 'train', '--config', bad.lmConfigBad(), '--out', P('lmrun')]);
  add('lm train config unknown field', ['lm', 'train', '--config', bad.lmConfigUnknown(), '--out', P('lmrun')]);
  add('lm train --stop-after 0', ['lm', 'train', '--config', 'configs/lm/tiny.json', '--out', P('lmrun'), '--stop-after', '0']);
  add('lm train --resume without checkpoint', ['lm', 'train', '--config', 'configs/lm/tiny.json', '--out', P('lmrun'), '--resume']);
  add('lm train --resume corrupt checkpoint', ['lm', 'train', '--config', 'configs/lm/tiny.json', '--out', P('badrun'), '--resume']);
  add('lm train existing run without --resume', ['lm', 'train', '--config', 'configs/lm/tiny.json', '--out', P('goodrun')]);
  add('lm eval no model', ['lm', 'eval']);
  add('lm eval --split bad', ['lm', 'eval', '--model', 'models/brown-small', '--split', 'dev']);
  add('lm eval --batch-size 0', ['lm', 'eval', '--model', 'models/brown-small', '--batch-size', '0']);
  add('lm eval --max-tokens -1', ['lm', 'eval', '--model', 'models/brown-small', '--max-tokens', '-1']);
  add('lm eval --out dir', ['lm', 'eval', '--model', 'models/brown-small', '--out', P('adir')]);
  // train (score)
  add('train no config', ['train', '--out', P('srun')]);
  add('train --out file', ['train', '--config', 'configs/score/tiny.json', '--out', P('afile')]);
  add('train config bad', ['train', '--config', bad.scoreConfigBad(), '--out', P('srun')]);
  add('train --resume without checkpoint', ['train', '--config', 'configs/score/tiny.json', '--out', P('srun'), '--resume']);
  add('train --stop-after -1', ['train', '--config', 'configs/score/tiny.json', '--out', P('srun'), '--stop-after', '-1']);
  // sweep
  add('sweep no config', ['sweep']);
  add('sweep config missing', ['sweep', '--config', P('nope.json')]);
  add('sweep config not JSON', ['sweep', '--config', bad.sweepNotJson()]);
  add('sweep empty grid', ['sweep', '--config', bad.sweepEmpty()]);
  add('sweep eta negative', ['sweep', '--config', bad.sweepBadEta()]);
  add('sweep unknown field', ['sweep', '--config', bad.sweepUnknown()]);
  add('sweep top-p without topP', ['sweep', '--config', bad.sweepBadBaseline()]);
  add('sweep empty prompt text', ['sweep', '--config', bad.sweepEmptyText()]);
  add('sweep --shard bad', ['sweep', '--config', 'configs/sweeps/tiny.json', '--shard', '3/2']);
  add('sweep --shard junk', ['sweep', '--config', 'configs/sweeps/tiny.json', '--shard', 'a/b', '--list']);
  add('sweep --out file', ['sweep', '--config', 'configs/sweeps/tiny.json', '--out', P('afile')]);
  add('sweep merge nothing', ['sweep', 'merge']);
  add('sweep merge missing dir', ['sweep', 'merge', P('nodir'), '--out', P('mout')]);
  add('sweep merge --out file', ['sweep', 'merge', P('adir'), '--out', P('afile')]);
  add('sweep merge flag of sweep', ['sweep', 'merge', P('adir'), '--shard', '0/2']);
  return c;
}

describe('spinbath fuzz: malformed input is refused with one line, exit 2, nothing written', () => {
  const all = cases();
  it('has at least 100 cases', () => expect(all.length).toBeGreaterThanOrEqual(100));
  it.each(all)(
    '%s',
    async (_name, argv, message) => {
      const before = snapshot(root);
      const r = await runCli(argv);
      const after = snapshot(root);
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 2 });
      expect(r.stdout).toBe('');
      expect(r.stderr.endsWith('\n')).toBe(true);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at |Error:/);
      if (message) expect(r.stderr).toMatch(message);
      expect([...after.entries()]).toEqual([...before.entries()]);
    },
    60_000,
  );
});
