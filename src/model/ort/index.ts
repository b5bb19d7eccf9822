/** The ONNX Runtime engine for the GPT-2 forward (see src/model/ort/engine.ts). */
export { AUTO_INITIALIZER_BYTES, createOrtGpt2, ortAvailable, ortWebgpuAvailable, OrtGpt2, type OrtOptions } from './engine.js';
export { OrtCache } from './cache.js';
export { buildGpt2Graph, type GraphSpec, type InterventionSlot } from './graph.js';
