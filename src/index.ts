/**
 * spinbath as a library: read a GPT-2's attention as a spin bath (Huo & Johnson, "HJ";
 * Bhattacharjee & Lee, "BL") and generate text by attention-guided spin diffusion.
 *
 * ```js
 * import { useBackend, loadModel, contextFields, generateGuided } from 'spinbath';
 * await useBackend('wasm');
 * const lm = await loadModel(); // the embedded Brown GPT-2 (models/brown-small)
 * ```
 *
 * The exports are grouped by concern, in the order of the pipeline:
 * 1. runtime: tensor backends, errors, seeded randomness;
 * 2. models: loading GPT-2 checkpoints, the forward pass with TransformerLens-style hooks,
 *    interventions, tokenizers, weights I/O;
 * 3. the Hamiltonian core: pair energies, Boltzmann weights, context fields, token scores, phase
 *    boundaries, biases, positional encoding, attractors, spectra, sphere geometry;
 * 4. field extraction and head analysis on a GPT-2;
 * 5. toy baths (the figures of HJ);
 * 6. forward noising, score models and their training (and language-model training);
 * 7. the guided sampler, readouts, attention baselines, metrics and sweeps;
 * 8. data (the Brown corpus, truncated BPE) and plots.
 *
 * Tensors are `@tensorflow/tfjs-core` tensors; call `useBackend()` once before the first tensor
 * operation. Every function that draws random numbers takes an explicit seed or `Rng`.
 *
 * @packageDocumentation
 */

// 1. Runtime ---------------------------------------------------------------------------------
export { BACKENDS, backendInfo, resolveBackendName, useBackend, type BackendInfo, type BackendName } from './backend.js';
export { check, checkFinite, isUserError, UserError, type ErrorCode } from './errors.js';
export { makeRng, normalArray, uniformArray, type Rng } from './rng.js';

// 2. Models: loading, forward with hooks, interventions, tokenizers, weights ------------------
export {
  createLanguageModel,
  disposeTwin,
  EMBEDDED_MODEL,
  embeddedModelDir,
  loadModel,
  modelForHooks,
  ORT_CPU,
  ORT_WEBGPU,
  ortStatus,
  ortWebgpuStatus,
  pickEngine,
  planEngine,
  resolveEngineChoice,
  resolveThreads,
  type EngineOptions,
  type EnginePlan,
  type LoadedModel,
  type LoadModelOptions,
  type ModelLoadProgress,
  type OrtStatus,
  type OrtWebgpuStatus,
} from './model/load.js';
export { Gpt2Model, KVCache, truncateLeft, type ForwardOptions } from './model/gpt2.js';
export {
  ENGINE_CHOICES,
  EngineHookError,
  type EngineChoice,
  type EngineForwardOptions,
  type EngineName,
  type LanguageModel,
  type ModelCache,
  type RunWithCacheOptions,
} from './model/engine.js';
export { disposeActivations, hookNames, HookPoints, type Hook, type HookFn, type Intervention, type NameFilter } from './model/hooks.js';
export { meanAblateHeads, patchHeadResults, zeroAblateHeads, type HeadPatch, type HeadRef, type MeanAblation } from './model/interventions.js';
export { defaultHubCacheDir, isHubId, resolveModelDir, type ResolveOptions } from './model/hub.js';
export { checkpointFiles, loadGpt2Weights, saveGpt2Checkpoint, type LoadOptions, type SaveOptions } from './model/checkpoint.js';
export { parseGpt2Config, readGpt2Config, writeGpt2Config } from './model/config.js';
export { dropPaddingRows, expectedShapes, type Gpt2Config, type Gpt2Weights, type HostTensor } from './model/weights.js';
export { randomGpt2Weights, TINY_CONFIG, type RandomWeightOptions } from './model/randomWeights.js';
export { loadSafetensors, readSafetensors, writeSafetensors, type SafetensorsEntry, type SafetensorsFile, type WriteDtype } from './model/safetensors.js';
export {
  bundledGpt2Dir,
  checkTokenizerFitsModel,
  loadTokenizer,
  packageRoot,
  PADDING_NOTE_ROWS,
  tokenizerFileName,
  type Tokenizer,
} from './model/tokenizer.js';

// 3. The Hamiltonian core (HJ; BL for the sphere and the noising) -----------------------------
export { attend, boltzmannWeights, causalMask, ensembleAverage, pairEnergy, pairEnergyQK, type AttendResult, type BoltzmannOptions } from './core/attention.js';
export {
  bathWeights,
  contextFieldLastQuery,
  contextFieldMeanField,
  effectiveCoupling,
  ensembleAverages,
  logitGap,
  projectField,
  tokenCosines,
  tokenScores,
  type BathOptions,
} from './core/field.js';
export { boundaryLine2D, boundarySide, clipLine, phaseBoundary, signedDistance, type BoundaryLine, type PhaseBoundary } from './core/phase.js';
export {
  applyRight,
  biasCoupling,
  biasedContextExact,
  biasedContextFirstOrder,
  biasedHamiltonianExact,
  biasedHamiltonianFirstOrder,
  biasMatrix,
  linearResponse,
} from './core/bias.js';
export {
  peContextExact,
  peContextFirstOrder,
  peHamiltonianEq5,
  peHamiltonianExact,
  sinusoidalPositions,
  withPositions,
  type PositionalOptions,
} from './core/positional.js';
export { iterateAttractor, sequenceField, type AttractorStep, type Perturbation, type ToyBath } from './core/attractor.js';
export { couplingSpectrum, symmetricSplit, type CouplingSpectrum } from './core/spectrum.js';
export { expMap, geodesicAngle, geodesicRandomWalk, logMap, normalizeSpins, rowDot, tangentGaussian, tangentProject, uniformSpins } from './core/sphere.js';
export { beta, SCHEDULE_KINDS, sigma2, type NoiseSchedule, type ScheduleKind } from './core/schedules.js';
export { heatKernelScoreCoeff, heatKernelSeries, meanCosine, varadhanCoeff, type ScoreForm, type SeriesResult } from './core/heatKernel.js';
export { matmul, matmulT } from './core/linalg.js';

// 4. Field extraction and head analysis (BL) ----------------------------------------------------
export { extractPromptFields, FIELD_MODES, tokenDirections, type FieldMode, type PromptFields } from './field/extract.js';
export {
  ablationEffects,
  analyzeHeads,
  decisionLandscape,
  temperatureSweep,
  type AblationEffect,
  type AnalysisOptions,
  type HeadAnalysis,
  type HeadResult,
  type Landscape,
} from './field/heads.js';
export { encodePrompts, readPromptFile, type EncodedPrompt, type EncodeOptions, type PromptPair } from './field/prompts.js';
export {
  checkFieldSource,
  contextFields,
  contextFieldsAll,
  DEFAULT_FIELD_SOURCE,
  fieldSourceId,
  fieldSourceSchema,
  parseFieldSource,
  type FieldSource,
} from './field/source.js';
export { leastSquares, pearson, type Correlation } from './field/stats.js';
export { ablationPlot, landscapePlot, scatterPlot, temperaturePlot } from './field/plots.js';

// 5. Toy baths (HJ Figs. 2–4) ---------------------------------------------------------------------
export { parseToyConfig, toyConfigSchema, type ToyConfig, type ToyConfigInput } from './toy/config.js';
export { FIG4_DELTA, PRESET_NAMES, PRESETS } from './toy/presets.js';
export {
  buildBath,
  runAttractor,
  runPhase,
  runPositional,
  runSpectrum,
  sliceCoords,
  type AttractorReport,
  type BoundaryReport,
  type BuiltBath,
  type PhaseReport,
  type PositionalReport,
} from './toy/run.js';
export { attractorPlot, phasePlot, positionalPlot } from './toy/plots.js';

// 6. Forward noising, score models and training (BL Eqs. 12–14) ----------------------------------
export type { BoundScore, ScoreModel, ScoreModelMeta } from './score/contract.js';
export { loadScoreModel, NetScoreModel, readScoreMeta, saveScoreModel, SCORE_META_FILE, SCORE_WEIGHTS_FILE, type ScoreNetMeta } from './score/scoreNet.js';
export { HostScoreNet, type HostScoreSpec } from './score/networkHost.js';
export {
  ACTIVATIONS,
  initParams,
  normaliseFields,
  scoreForward,
  type Activation,
  type FeatureNorm,
  type NetInputs,
  type NetworkConfig,
} from './score/network.js';
export { modelHash } from './score/identity.js';
export {
  FORWARD_SAMPLERS,
  noiseSpins,
  sampleTimes,
  tableForSchedule,
  timesAt,
  type ForwardSampler,
  type Noised,
  type NoiseOptions,
  type TimeSample,
} from '../training/forward.js';
export { HeatKernelTable, type HeatLevel, type HeatTableOptions } from '../training/heatTable.js';
export { dsmLoss, dsmTarget, heatKernelScore, lossWeights, ssmLoss, WEIGHTINGS, type Weighting } from '../training/objectives.js';
export { loadScoreConfig, parseScoreConfig, scoreConfigSchema, type ScoreConfig } from '../training/config.js';
export { prepareScoreData, type PreparedData, type PrepareOptions } from '../training/data.js';
export { buildPairs, loadOrBuildFieldCache, type FieldCacheOptions, type FieldCacheResult, type FieldCacheSpec, type PairSet } from '../training/fieldCache.js';
export { trainScore, type ScoreTrainOptions, type ScoreTrainReport } from '../training/train.js';
export { loadLmConfig, lmConfigSchema, parseLmConfig, type LmConfig } from './lm/config.js';
export { trainLm, type TrainOptions as LmTrainOptions, type TrainReport as LmTrainReport } from './lm/train.js';
export { evaluateModelDir, type EvalOptions, type EvalReport } from './lm/eval.js';

// 7. The guided sampler, readouts, baselines, metrics, sweeps (BL Eq. 14, Sec. V D) --------------
export { generateGuided, type GuidedLm, type GuidedOptions, type GuidedResult, type TokenEvent, type TokenTrace } from '../sampling/generate.js';
export { checkGuidedOptions, DEFAULT_STEPS, defaultSchedule } from '../sampling/options.js';
export { GuidedDrift, paramAt, type DriftOptions, type LlgOptions, type ParamSchedule, type Sde } from '../sampling/drift.js';
export { integrateReverse, type ReverseOptions, type ReverseResult } from '../sampling/reverse.js';
export { INTEGRATOR_NAMES, INTEGRATORS, type IntegratorName } from '../sampling/integrators/index.js';
export { READOUTS, TokenReadout, type ReadoutKind, type ReadoutResult } from '../sampling/readout.js';
export { embeddedScoreDir, openScore, scoreHashWarning, type OpenScoreOptions } from '../sampling/score.js';
export {
  BASELINE_METHODS,
  baselineLabel,
  generateBaseline,
  type BaselineMethod,
  type BaselineOptions,
  type BaselineResult,
  type BaselineSpec,
} from '../sampling/baselines.js';
export {
  computeMetrics,
  distinctN,
  loopPeriod,
  METRIC_KEYS,
  repetitionRate,
  textStats,
  zipfCoefficient,
  type GenerationRecord,
  type MetricKey,
  type Metrics,
  type TextStats,
} from '../sampling/metrics.js';
export { expandGrid, loadSweepConfig, parseSweepConfig, sweepConfigSchema, type SweepConfig } from '../sampling/sweep-config.js';
export { mergeResults, readResults, runSweep, type SweepOutcome, type SweepRunOptions } from '../sampling/sweep.js';
export { writeReport } from '../sampling/sweep-report.js';

// 8. Data and plots ---------------------------------------------------------------------------
export { brownDocuments, brownSplit, BROWN_SPLITS, type BrownDocument, type SplitName } from './data/brown.js';
export { gpt2Tokenizer, truncatedTokenizer, BpeTokenizer } from './data/bpe.js';
export { renderSvg, type VegaLiteSpec } from './plot/render.js';
export { lossCurveSpec, type LossLog } from './plot/lossCurve.js';
