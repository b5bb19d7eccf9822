/**
 * One call from a --model argument to a ready model: resolve the directory (local path, hub id
 * in the cache, or the embedded default), read the weights, build the forward pass on the chosen
 * engine (src/model/engine.ts) and the tokenizer.
 *
 * Engines: `tfjs` (Gpt2Model, the reference and the training engine) or `ort` (ONNX Runtime,
 * src/model/ort/). `auto` = ort for inference when its native binary loads, tfjs for training or
 * when ORT cannot load (with a one-line note through `onNote`). On the `webgpu` backend the ort
 * engine runs on ORT's WebGPU execution provider (['webgpu', 'cpu']); when that provider cannot
 * start, `--engine ort` is a one-line error and `auto` keeps the ort engine on the CPU provider
 * with a note (not the tfjs-webgpu forward, which cannot decode under Node: it reads
 * synchronously). On every other backend ORT runs on its CPU provider. The choice comes from the option,
 * else SPINBATH_ENGINE, else `auto`; `threads` from the option, else SPINBATH_THREADS, else the
 * machine's cores. The library draws no terminal UI: downloads and weight reading report through
 * `onProgress`, and the CLI draws the bars (src/cli/commands/model-args.ts).
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { loadGpt2Weights, type LoadProgress } from './checkpoint.js';
import { ENGINE_CHOICES, type EngineChoice, type EngineName, type LanguageModel } from './engine.js';
import type { Hook } from './hooks.js';
import { Gpt2Model } from './gpt2.js';
import { resolveModelDir, type DownloadProgress } from './hub.js';
import { checkTokenizerFitsModel, loadTokenizer, packageRoot, type Tokenizer } from './tokenizer.js';
import { dropPaddingRows, type Gpt2Weights } from './weights.js';

/** The embedded default model (trained by spinbath on the Brown corpus; see models/brown-small/README.md). */
export const EMBEDDED_MODEL = 'models/brown-small';

/** The values of `--engine` (and SPINBATH_ENGINE). */
export { ENGINE_CHOICES } from './engine.js';

/** The directory of the embedded model inside the installed package. */
export function embeddedModelDir(): string {
  return join(packageRoot(), EMBEDDED_MODEL);
}

/** What ORT's availability probe answers (src/model/ort `ortAvailable`). */
export type OrtStatus = { ok: true; version: string; providers: string[] } | { ok: false; reason: string };

/** What the probe of ORT's WebGPU execution provider answers (src/model/ort `ortWebgpuAvailable`). */
export type OrtWebgpuStatus = { ok: true } | { ok: false; reason: string };

/** The engine that runs inference and, on ort, the execution providers of its sessions (null on tfjs). */
export interface EnginePlan {
  engine: EngineName;
  executionProviders: readonly string[] | null;
}

/** How the engine is chosen and configured (shared by loadModel, lm eval and the bench). */
export interface EngineOptions {
  /** auto | ort | tfjs (default: SPINBATH_ENGINE, else auto). */
  engine?: EngineChoice;
  /** Intra-op threads of the ort engine (default: SPINBATH_THREADS, else the machine's cores). */
  threads?: number;
  /** 'training' makes `auto` pick tfjs (gradients); default 'inference'. */
  purpose?: 'inference' | 'training';
  /** One-line notes for the user (e.g. the fallback from ort to tfjs); default: none. */
  onNote?: (line: string) => void;
  /** Probe of ORT's native binary (default: src/model/ort `ortAvailable`); injectable for tests. */
  probe?: () => Promise<OrtStatus>;
  /**
   * The tensor backend of the run (default: SPINBATH_BACKEND, else wasm). With 'webgpu' the ort
   * engine runs on ORT's WebGPU execution provider, else on its CPU provider.
   */
  backend?: string;
  /** Probe of ORT's WebGPU execution provider (default: src/model/ort `ortWebgpuAvailable`); injectable for tests. */
  webgpuProbe?: () => Promise<OrtWebgpuStatus>;
}

/** A step of loading: a file downloading from the hub, or the weights being read. */
export type ModelLoadProgress = ({ stage: 'download' } & DownloadProgress) | ({ stage: 'weights' } & LoadProgress);

/** Options of {@link loadModel}: the engine's, offline mode and progress callbacks. */
export interface LoadModelOptions extends EngineOptions {
  offline?: boolean;
  /** Download and weight-reading progress (the library draws nothing itself). */
  onProgress?: (e: ModelLoadProgress) => void;
}

/** A loaded model: its directory, the forward pass (on the chosen engine) and the tokenizer. */
export interface LoadedModel {
  dir: string;
  model: LanguageModel;
  tokenizer: Tokenizer;
  /** The engine actually running (after `auto` and any fallback). */
  engine: EngineName;
  /** Release the model's weights (and any tfjs twin). */
  dispose(): void;
}

/** The engine choice from an explicit value, then SPINBATH_ENGINE, then 'auto'; a bad name is a one-line error. */
export function resolveEngineChoice(explicit?: string): EngineChoice {
  const name = explicit ?? (process.env.SPINBATH_ENGINE || 'auto');
  if (!(ENGINE_CHOICES as readonly string[]).includes(name)) {
    throw new UserError('E_ARG', `unknown engine '${name}'; choose one of ${ENGINE_CHOICES.join(', ')} (--engine or SPINBATH_ENGINE)`);
  }
  return name as EngineChoice;
}

/** Threads from an explicit value, then SPINBATH_THREADS, then the machine's cores; must be a positive integer. */
export function resolveThreads(explicit?: number): number {
  const env = process.env.SPINBATH_THREADS;
  const n = explicit ?? (env !== undefined && env !== '' ? Number(env) : availableParallelism());
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new UserError('E_ARG', `--threads must be a positive integer (got ${explicit ?? env}); or unset SPINBATH_THREADS`);
  }
  return n;
}

interface OrtModule {
  ortAvailable(): Promise<OrtStatus>;
  ortWebgpuAvailable(): Promise<OrtWebgpuStatus>;
  createOrtGpt2(weights: Gpt2Weights, opts?: { threads?: number; executionProviders?: string[] }): Promise<LanguageModel>;
}

/** The ORT engine module, imported on first use (so a broken native binary costs nothing until ORT is chosen). */
async function ortModule(): Promise<OrtModule> {
  return (await import('./ort/index.js')) as unknown as OrtModule;
}

/** ORT's availability: version and execution providers, or why its native binary cannot load. Never throws. */
export async function ortStatus(): Promise<OrtStatus> {
  try {
    return await (await ortModule()).ortAvailable();
  } catch (e) {
    return { ok: false, reason: (e as Error).message?.split('\n')[0] ?? String(e) };
  }
}

/** Whether ORT's WebGPU execution provider starts here (probed once per process). Never throws. */
export async function ortWebgpuStatus(): Promise<OrtWebgpuStatus> {
  try {
    return await (await ortModule()).ortWebgpuAvailable();
  } catch (e) {
    return { ok: false, reason: (e as Error).message?.split('\n')[0] ?? String(e) };
  }
}

/** The ORT execution providers of the ort engine on the CPU. */
export const ORT_CPU: readonly string[] = ['cpu'];
/** The ORT execution providers of the ort engine on the GPU (nodes without a WebGPU kernel run on the CPU). */
export const ORT_WEBGPU: readonly string[] = ['webgpu', 'cpu'];

/**
 * Which engine runs, and on ort which execution providers: `tfjs` and `ort` as asked (ort failing
 * to load is a one-line UserError, exit 2); `auto` → tfjs for training, else ort when it loads,
 * else tfjs with a note. On the webgpu backend ort runs on ['webgpu', 'cpu'] when ORT's WebGPU EP
 * starts; when it does not, `--engine ort` is a one-line UserError and `auto` notes it and keeps ort
 * on ['cpu'].
 */
export async function planEngine(opts: EngineOptions = {}): Promise<EnginePlan> {
  const choice = resolveEngineChoice(opts.engine);
  const tfjs: EnginePlan = { engine: 'tfjs', executionProviders: null };
  if (choice === 'tfjs') return tfjs;
  if (choice === 'auto' && opts.purpose === 'training') return tfjs;
  const status = await (opts.probe ?? ortStatus)();
  if (!status.ok) {
    if (choice === 'ort') {
      throw new UserError('E_BACKEND', `--engine ort: ONNX Runtime cannot load here (${status.reason}); use --engine tfjs`);
    }
    opts.onNote?.(`note: ONNX Runtime cannot load (${status.reason}); using the tfjs engine`);
    return tfjs;
  }
  const backend = opts.backend ?? (process.env.SPINBATH_BACKEND || 'wasm');
  if (backend !== 'webgpu') return { engine: 'ort', executionProviders: ORT_CPU };
  const gpu = await (opts.webgpuProbe ?? ortWebgpuStatus)();
  if (gpu.ok) return { engine: 'ort', executionProviders: ORT_WEBGPU };
  if (choice === 'ort') {
    throw new UserError(
      'E_BACKEND',
      `--engine ort --backend webgpu: ${gpu.reason}; use --backend wasm (ORT on the CPU) or --engine tfjs (the tfjs-webgpu forward)`,
    );
  }
  opts.onNote?.(`note: ${gpu.reason}; the ort engine runs on the CPU`);
  return { engine: 'ort', executionProviders: ORT_CPU };
}

/** The engine `planEngine` picks (see there). */
export async function pickEngine(opts: EngineOptions = {}): Promise<EngineName> {
  return (await planEngine(opts)).engine;
}

/**
 * A LanguageModel for `weights` on the engine `pickEngine` chooses. The tfjs engine uploads the
 * weights and the host copies are dropped (`weights.tensors` is cleared); the ort engine keeps
 * references to them (no second copy), so they must stay alive.
 */
export async function createLanguageModel(weights: Gpt2Weights, opts: EngineOptions = {}): Promise<LanguageModel> {
  const plan = await planEngine(opts);
  if (plan.engine === 'ort') {
    const model = await (
      await ortModule()
    ).createOrtGpt2(weights, {
      threads: resolveThreads(opts.threads),
      executionProviders: [...(plan.executionProviders ?? ORT_CPU)],
    });
    twinSources.set(model, { weights, onNote: opts.onNote });
    return model;
  }
  resolveThreads(opts.threads); // a bad --threads is an error on every engine
  const model = Gpt2Model.fromWeights(weights) as unknown as LanguageModel;
  weights.tensors.clear();
  return model;
}

/** How to build the tfjs twin of an ort model: its host weights (kept by the ort engine anyway) and the note sink. */
const twinSources = new WeakMap<LanguageModel, { weights: Gpt2Weights; onNote?: (line: string) => void; twin?: LanguageModel }>();

/**
 * The model that can run `hooks`: `model` itself when its engine can express them (`canRun`:
 * always on tfjs; on ort only declarative interventions), else its tfjs twin, built from the same
 * host weights on first need (one note through the loader's `onNote`) and kept until
 * `disposeTwin(model)` (LoadedModel.dispose does it).
 */
export function modelForHooks(model: LanguageModel, hooks: readonly Hook[]): LanguageModel {
  if (model.canRun(hooks)) return model;
  const src = twinSources.get(model);
  if (!src) throw new UserError('E_BACKEND', `these hooks cannot run on the ${model.engine} engine and no tfjs fallback is available; use --engine tfjs`);
  if (!src.twin) {
    src.onNote?.(`note: hooks not expressible on the ${model.engine} engine; those forward passes run on tfjs`);
    src.twin = Gpt2Model.fromWeights(src.weights) as unknown as LanguageModel;
  }
  return src.twin;
}

/** Dispose the tfjs twin that `modelForHooks` may have built for `model`. */
export function disposeTwin(model: LanguageModel): void {
  const src = twinSources.get(model);
  src?.twin?.dispose();
  if (src) src.twin = undefined;
}

/**
 * Resolve `modelArg` (or the embedded default when undefined) and load model + tokenizer. A
 * directory is complete or refused (UserError, exit 2 in the CLI): config.json and weights that
 * match it, its own tokenizer files (never a substitute), and a tokenizer whose ids all fit the
 * embedding (`checkTokenizerFitsModel`: V_tok ≤ V_emb, note through `onNote` when more than
 * 1,024 rows are padding). Padding rows are dropped (`dropPaddingRows`): `model.vocab` is the
 * tokenizer's V_tok, so no sampler can produce an id the tokenizer cannot decode.
 */
export async function loadModel(modelArg: string | undefined, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  resolveEngineChoice(opts.engine); // bad input fails before any download or read
  resolveThreads(opts.threads);
  let dir: string;
  if (modelArg === undefined || modelArg === '') {
    dir = embeddedModelDir();
    if (!existsSync(join(dir, 'config.json'))) {
      throw new UserError(
        'E_FILE',
        `no --model given and the embedded model is missing at ${dir}; pass --model DIR (a Hugging Face GPT-2 directory) or a hub id`,
      );
    }
  } else {
    const onProgress = opts.onProgress;
    dir = await resolveModelDir(modelArg, { offline: opts.offline, onProgress: onProgress && ((e) => onProgress({ stage: 'download', ...e })) });
  }
  const onProgress = opts.onProgress;
  const stored = await loadGpt2Weights(dir, { onProgress: onProgress && ((e) => onProgress({ stage: 'weights', ...e })) });
  // A model directory is complete or refused: its own tokenizer, never a substitute (loadTokenizer names the missing file),
  // whose ids all have rows in the embedding (checkTokenizerFitsModel: padding rows allowed, never missing rows).
  const tokenizer = await loadTokenizer(dir);
  checkTokenizerFitsModel(tokenizer, stored.config.vocab_size, dir, opts.onNote);
  const weights = dropPaddingRows(stored, tokenizer.vocabSize); // [V_tok, d_model]: padding rows are never produced
  const model = await createLanguageModel(weights, opts);
  return {
    dir,
    model,
    tokenizer,
    engine: model.engine,
    dispose: () => {
      disposeTwin(model);
      model.dispose();
    },
  };
}
