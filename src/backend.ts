/**
 * Tensor backends. Default: tfjs-backend-wasm (SIMD); `cpu` as fallback; `tensorflow` through the
 * optional @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (imported on demand: their install
 * downloads libtensorflow, so they are never a hard dependency); `webgpu` through
 * @tensorflow/tfjs-backend-webgpu with the `webgpu` npm package (Dawn) when a GPU adapter exists.
 * Choose with --backend or SPINBATH_BACKEND.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { UserError } from './errors.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The tensor backends spinbath can run on. */
export const BACKENDS = ['wasm', 'cpu', 'tensorflow', 'webgpu'] as const;
/** One of {@link BACKENDS}. */
export type BackendName = (typeof BACKENDS)[number];

let active: BackendName | null = null;

// Production mode: silences tfjs's console advice (e.g. the cpu backend's 'install tfjs-node' banner).
tf.env().set('PROD', true);

/** Import a package that may be absent, returning null when it is not installed. */
async function optionalImport(name: string): Promise<unknown | null> {
  try {
    return await import(name);
  } catch (e) {
    const msg = (e as Error).message ?? '';
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' || msg.includes('Cannot find')) return null;
    throw new UserError('E_BACKEND', `package ${name} is installed but failed to load: ${msg.split('\n')[0]}`);
  }
}

async function setupTensorflow(): Promise<void> {
  const gpu = await optionalImport('@tensorflow/tfjs-node-gpu');
  const mod = gpu ?? (await optionalImport('@tensorflow/tfjs-node'));
  if (!mod) {
    throw new UserError(
      'E_BACKEND',
      "backend 'tensorflow' needs @tensorflow/tfjs-node (or @tensorflow/tfjs-node-gpu), which is not installed; " +
        'run `npm install @tensorflow/tfjs-node@4.22.0` on a machine that can download libtensorflow, or use --backend wasm',
    );
  }
}

/** The WebGPU adapter in use: what `spinbath env` shows, and the limits the device was created with. */
export interface WebgpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software (CPU) adapter such as Mesa's llvmpipe: correct, not fast. */
  fallback: boolean;
  /** Key limits of the device (requested at the adapter's maxima). */
  limits: Record<string, number>;
}

interface GpuState {
  adapter: WebgpuAdapter;
  /** Validation / out-of-memory / internal errors and device loss, in order; the first one fails the run. */
  faults: string[];
}

let gpu: GpuState | null = null;

const KEY_LIMITS = [
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBuffersPerShaderStage',
] as const;

type Dawn = { create?: (o: string[]) => GpuLike; globals?: object };
type GpuLike = { requestAdapter(o?: object): Promise<AdapterLike | null> };
type AdapterLike = {
  limits: Record<string, number>;
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  requestDevice(d?: object): Promise<DeviceLike>;
};
type DeviceLike = {
  limits: Record<string, number>;
  lost: Promise<{ reason: string; message: string }>;
  addEventListener(type: 'uncapturederror', f: (e: { error: { message: string; constructor: { name: string } } }) => void): void;
};

/** The adapter Dawn offers on this machine (null when none), without creating a tfjs backend. */
async function requestWebgpuAdapter(): Promise<AdapterLike | null> {
  const dawn = (await optionalImport('webgpu')) as Dawn | null;
  if (!dawn || !dawn.create) {
    throw new UserError('E_BACKEND', "backend 'webgpu' needs the npm package `webgpu` (Dawn); run `npm install webgpu` or use --backend wasm");
  }
  const g = globalThis as unknown as { navigator?: { gpu?: GpuLike } };
  if (dawn.globals) Object.assign(globalThis, dawn.globals);
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, writable: true, configurable: true });
  g.navigator!.gpu ??= dawn.create([]);
  return g.navigator!.gpu!.requestAdapter({ powerPreference: 'high-performance' });
}

/**
 * Dawn's device, asked for the adapter's real limits (the WebGPU defaults, e.g. 8 storage buffers
 * per shader stage, make tfjs kernels with many inputs fail validation), with every uncaptured
 * error and device loss recorded so that the next read fails the run (checkGpu).
 */
async function setupWebgpu(): Promise<void> {
  const adapter = await requestWebgpuAdapter();
  if (!adapter) {
    throw new UserError(
      'E_BACKEND',
      "backend 'webgpu': no GPU adapter found on this machine (no Vulkan/Metal/D3D12 driver; `sudo bash scripts/setup-webgpu.sh` installs a software one); use --backend wasm",
    );
  }
  const be = (await optionalImport('@tensorflow/tfjs-backend-webgpu')) as { WebGPUBackend: new (device: unknown, info?: unknown) => tf.KernelBackend } | null;
  if (!be) throw new UserError('E_BACKEND', "backend 'webgpu' needs @tensorflow/tfjs-backend-webgpu; run `npm install @tensorflow/tfjs-backend-webgpu@4.22.0`");
  const all: Record<string, number> = {};
  for (const k in adapter.limits) if (typeof adapter.limits[k] === 'number') all[k] = adapter.limits[k];
  let device: DeviceLike;
  try {
    device = await adapter.requestDevice({ requiredLimits: all });
  } catch {
    // a limit this Dawn build does not know by name: ask for the ones tfjs needs
    device = await adapter.requestDevice({ requiredLimits: Object.fromEntries(KEY_LIMITS.map((k) => [k, adapter.limits[k]])) });
  }
  const info = adapter.info ?? {};
  const state: GpuState = {
    adapter: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      fallback: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
      limits: Object.fromEntries(KEY_LIMITS.map((k) => [k, device.limits[k]])),
    },
    faults: [],
  };
  device.addEventListener('uncapturederror', (e) => {
    state.faults.push(`${e.error.constructor.name}: ${e.error.message.split('\n')[0]}`);
  });
  void device.lost.then((l) => {
    state.faults.push(`device lost (${l.reason}): ${l.message.split('\n')[0]}`);
  });
  gpu = state;
  tf.removeBackend('webgpu'); // the package's own registration asks for default limits
  tf.registerBackend(
    'webgpu',
    async () => {
      const backend = new be.WebGPUBackend(device, adapter.info) as tf.KernelBackend;
      // tfjs-webgpu reads data still on the GPU synchronously through an OffscreenCanvas, which Node
      // lacks: say so in one line instead of "OffscreenCanvas is not defined"
      const readSync = backend.readSync.bind(backend);
      backend.readSync = (dataId: object) => {
        try {
          return readSync(dataId);
        } catch (e) {
          if (!String((e as Error).message).includes('OffscreenCanvas')) throw e;
          throw new UserError(
            'E_BACKEND',
            "backend 'webgpu' cannot read GPU data synchronously under Node, and this command still does; train, lm train and logits run on webgpu, for the rest use --backend wasm",
          );
        }
      };
      return backend;
    },
    3,
  );
}

/** The active WebGPU adapter (after useBackend('webgpu')), else null. */
export function webgpuAdapter(): WebgpuAdapter | null {
  return gpu?.adapter ?? null;
}

/**
 * Throw a one-line UserError when the GPU has reported a validation error, an out-of-memory or
 * internal error, or device loss since the backend started: the numbers computed since then
 * cannot be trusted. Cheap; every read in readData/readScalars calls it.
 */
export function checkGpu(): void {
  if (!gpu || gpu.faults.length === 0 || tf.getBackend() !== 'webgpu') return;
  throw new UserError(
    'E_BACKEND',
    `backend 'webgpu' failed: the GPU reported ${gpu.faults[0]}${gpu.faults.length > 1 ? ` (and ${gpu.faults.length - 1} more)` : ''}; ` +
      'the results are not trustworthy, so the run stopped; rerun with --backend wasm and report this',
  );
}

/** A tensor's values on the host (async: works on webgpu, where synchronous reads do not), checked by checkGpu. */
export async function readData(t: tf.Tensor): Promise<Float32Array | Int32Array | Uint8Array> {
  let v: Float32Array | Int32Array | Uint8Array;
  try {
    v = (await t.data()) as Float32Array | Int32Array | Uint8Array;
  } catch (e) {
    // a lost device rejects the read; its `lost` event may land a tick later and says why
    await new Promise<void>((r) => setImmediate(r));
    checkGpu();
    throw e;
  }
  checkGpu();
  return v;
}

/** Values of scalar tensors in one device read (stacked first), checked by checkGpu. */
export async function readScalars(ts: readonly tf.Tensor[]): Promise<number[]> {
  if (ts.length === 0) return [];
  const all = tf.tidy(() => (ts.length === 1 ? tf.reshape(ts[0], [1]) : tf.stack(ts.map((t) => tf.reshape(t, []))))); // [n]
  try {
    return Array.from(await readData(all));
  } finally {
    all.dispose();
  }
}

/** Resolve the backend name from an explicit choice, then SPINBATH_BACKEND, then the default. */
export function resolveBackendName(explicit?: string): BackendName {
  const name = explicit ?? process.env.SPINBATH_BACKEND ?? 'wasm';
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new UserError('E_ARG', `unknown backend '${name}'; choose one of ${BACKENDS.join(', ')} (--backend or SPINBATH_BACKEND)`);
  }
  return name as BackendName;
}

/** Initialise and activate a backend. Idempotent for the same name. */
export async function useBackend(explicit?: string): Promise<BackendName> {
  const name = resolveBackendName(explicit);
  if (active === name && tf.getBackend() === name) return name;
  if (name === 'tensorflow') await setupTensorflow();
  if (name === 'webgpu') await setupWebgpu();
  const ok = await tf.setBackend(name);
  if (!ok) throw new UserError('E_BACKEND', `backend '${name}' failed to initialise; try --backend cpu`);
  await tf.ready();
  active = name;
  return name;
}

/** What {@link backendInfo} reports. */
export interface BackendInfo {
  backend: string;
  simd: boolean | null;
  threads: boolean | null;
  versions: Record<string, string | null>;
  /** The WebGPU adapter (backend webgpu only). */
  webgpu: WebgpuAdapter | null;
  /** Which engine each job runs on under this backend. */
  jobs: Record<string, string>;
}

/**
 * The engine each job uses under `backend`: tfjs with that backend; the sampler's reverse loop
 * runs the score network on the host (WebAssembly SIMD, src/score/networkHost.ts) on every backend.
 */
export function jobEngines(backend: string): Record<string, string> {
  const tfjs = `tfjs-${backend}`;
  return {
    'lm train': tfjs,
    'train (score network)': tfjs,
    'forward (logits, heads, fields)': tfjs,
    'sample / generate': `${tfjs} forward + host score kernel (WASM SIMD)`,
  };
}

/**
 * The installed version of package `name`, or null. Packages whose `exports` hide package.json
 * (@huggingface/transformers) are found from their resolved entry, walking up to their package.json.
 */
function packageVersion(require: NodeJS.Require, name: string): string | null {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    // fall through: exports may hide package.json
  }
  const paths = require.resolve.paths(name) ?? [];
  for (const base of paths) {
    try {
      const pkg = JSON.parse(readFileSync(join(base, name, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name && pkg.version) return pkg.version;
    } catch {
      // not in this node_modules
    }
  }
  return null;
}

/** What `spinbath env` prints: backend, SIMD/threads and package versions. */
export async function backendInfo(): Promise<BackendInfo> {
  const backend = tf.getBackend();
  let simd: boolean | null = null;
  let threads: boolean | null = null;
  if (backend === 'wasm') {
    simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    // tfjs-wasm uses threads only where SharedArrayBuffer workers are set up; in Node it runs one thread.
    threads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) && typeof (globalThis as { window?: unknown }).window !== 'undefined';
  }
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const versions: Record<string, string | null> = {};
  for (const p of [
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-backend-cpu',
    '@tensorflow/tfjs-backend-webgpu',
    '@tensorflow/tfjs-node',
    '@tensorflow/tfjs-node-gpu',
    'webgpu',
    '@huggingface/transformers',
  ]) {
    versions[p] = packageVersion(require, p);
  }
  versions.node = process.versions.node;
  return { backend, simd, threads, versions, webgpu: backend === 'webgpu' ? webgpuAdapter() : null, jobs: jobEngines(backend) };
}
